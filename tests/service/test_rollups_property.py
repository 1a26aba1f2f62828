"""Property: whatever batches arrive — one to three runs, several keys, steps in any order and
far apart, replays of earlier batches (with the same values or others), duplicates inside a
batch, values negative, zero, huge, subnormal and non-finite, and batches the API refuses —
everything the service maintains at ingest equals the same thing recomputed from scratch from
the test's own model of what was sent (the first value of each key and step wins): the stored
points (SQL), each run's latest values and highest step (GET /runs/{id} and the listing), the
rollup rows (SQL), the histories (GET /runs/{id}/metrics, POST /metrics/query) and the runs'
order and filter by a metric. On SQLite and PostgreSQL, a fresh experiment per example."""

from __future__ import annotations

import math
import uuid
from itertools import groupby

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from service.models import Metric, MetricRollup
from tests.service.test_query import python_order

from .conftest import TABLES, assert_error, count_rows

RUNS = "/api/v1/runs"
KEYS = ["loss", "val/acc", "lr"]
MAX_BATCH = 12  # the app's max_metric_batch here: a bigger batch is refused (413)
WIDTHS = [64 * 4**k for k in range(29)]  # the README's bucket widths, 64 × 4^k steps, to 2^62
NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
HISTORY_POINTS = (10, 13, 1000)  # downsampled to 2 or 3 buckets, and raw

STEPS = st.one_of(st.integers(0, 8), st.integers(0, 400), st.sampled_from(
    [63, 64, 255, 256, 1023, 1024, 4096, 5000, 70_000, 2**40, 2**62 - 1, 2**62]))
VALUES = st.one_of(st.floats(allow_nan=False, allow_infinity=False),
                   st.integers(-10**6, 10**6),
                   st.sampled_from([0.0, -0.0, -1.0, 1e308, -1e308, 5e-324, -1e-300]),
                   st.sampled_from(sorted(NON_FINITE)))
# one bad point makes the whole batch a 422
POISON = [{"key": "a b", "step": 0, "value": 1.0}, {"key": "loss", "step": -1, "value": 1.0},
          {"key": "loss", "step": 2**62 + 1, "value": 1.0},
          {"key": "loss", "step": 1.5, "value": 1.0}, {"key": "loss", "step": 1, "value": "nan"},
          {"key": "loss", "step": 1, "value": "inf"}, {"key": "loss", "step": 1, "value": True},
          {"key": "loss", "step": 1, "value": None}, {"key": "loss", "step": 1, "value": "1.5"},
          {"key": "loss", "step": 1, "value": 1.0, "time": "NaN"},
          {"key": "loss", "step": 1, "value": 1.0, "extra": 0}]


def wire_points(points):
    return [{"key": key, "step": step, "value": value} for key, step, value in points]


@st.composite
def scenarios(draw):
    """(number of runs, events): ("send", run, points) with points (key, step, wire value), or
    ("reject", run, point dicts, status)."""
    keys = draw(st.lists(st.sampled_from(KEYS), min_size=1, unique=True))
    point = st.tuples(st.sampled_from(keys), STEPS, VALUES)
    runs = draw(st.integers(1, 3))
    events, sent = [], []
    for _ in range(draw(st.integers(1, 10))):
        run = draw(st.integers(0, runs - 1))
        kind = draw(st.sampled_from(["new", "new", "replay", "reject"]))
        if kind == "reject":
            events.append(("reject", run, *draw(rejected(point))))
            continue
        if kind == "replay" and sent:
            run, earlier = draw(st.sampled_from(sent))
            points = draw(st.permutations(earlier))
            if draw(st.booleans()):  # the same keys and steps with other values
                points = [(key, step, draw(VALUES)) for key, step, _ in points]
            if draw(st.booleans()):  # partly new
                points = (points + draw(st.lists(point, min_size=1, max_size=3)))[:MAX_BATCH]
        else:  # of a uniform size: Hypothesis favours short lists, histories need long series
            size = draw(st.integers(1, MAX_BATCH))
            points = draw(st.lists(point, min_size=size, max_size=size))
        sent.append((run, points))
        events.append(("send", run, points))
    return runs, events


@st.composite
def rejected(draw, point):
    """(point dicts, status) of a batch refused whole: too big, or valid points and one bad."""
    if draw(st.integers(0, 2)) == 0:
        return wire_points(draw(st.lists(point, min_size=MAX_BATCH + 1,
                                         max_size=MAX_BATCH + 4))), 413
    points = wire_points(draw(st.lists(point, max_size=MAX_BATCH - 1)))
    points.insert(draw(st.integers(0, len(points))), draw(st.sampled_from(POISON)))
    return points, 422


# -- the model: {(key, step): value}, NaN as None as the database stores it ---------------------

def number(value) -> float | None:
    number = NON_FINITE[value] if isinstance(value, str) else float(value)
    return None if math.isnan(number) else number


def wire(value: float | None):
    """The value as the API answers it."""
    if value is None:
        return "NaN"
    return {math.inf: "Infinity", -math.inf: "-Infinity"}.get(value, value)


def remember(points, model: dict) -> int:
    """Add a batch to the run's model; returns how many of its points are new."""
    new = 0
    for key, step, value in points:
        if (key, step) not in model:
            model[key, step] = number(value)
            new += 1
    return new


def series(model: dict, key: str) -> list[tuple[int, float | None]]:
    return sorted((step, value) for (k, step), value in model.items() if k == key)


def latest_value(model: dict, key: str) -> float | None:
    points = series(model, key)
    return points[-1][1] if points else None


def aggregate(points) -> tuple:
    """A rollup row of (step, value) points in step order: n, first, last, minimum and maximum
    points; of equal extremes the earliest; without a number, min and max are the first."""
    numbers = [(value, step) for step, value in points if value is not None]
    low = min(numbers, default=(None, points[0][0]), key=lambda vs: (vs[0], vs[1]))
    high = min(numbers, default=(None, points[0][0]), key=lambda vs: (-vs[0], vs[1]))
    return (len(points), *points[0], *points[-1], low[1], low[0], high[1], high[0])


def buckets(points, width: int) -> dict[int, tuple]:
    return {bucket: aggregate(list(group))
            for bucket, group in groupby(points, key=lambda p: p[0] // width)}


def expected_series(run: str, key: str, points, max_points: int) -> dict:
    """The history: raw up to max_points points, else each bucket's first, last, min and max
    point at the finest width with at most max_points // 4 buckets."""
    kept = dict(points)
    if len(points) > max_points:
        first, last = points[0][0], points[-1][0]
        width = next(w for w in WIDTHS if last // w - first // w + 1 <= max_points // 4)
        kept = {}
        for _, *ends in buckets(points, width).values():
            kept.update(zip(ends[::2], ends[1::2]))
    steps = sorted(kept)
    return {"run_id": run, "key": key, "steps": steps, "values": [wire(kept[s]) for s in steps],
            "total_points": len(points), "downsampled": len(points) > len(steps)}


# -- playing a scenario through the API ---------------------------------------------------------

def new_runs(client, count: int) -> tuple[list[str], str]:
    """``count`` external runs in an experiment of their own, and its id."""
    name = f"rollups-{uuid.uuid4().hex[:12]}"
    made = [client.post(RUNS, json={"name": f"r{i}", "experiment": name}) for i in range(count)]
    assert all(r.status_code == 201 for r in made), made[0].text
    return [r.json()["id"] for r in made], made[0].json()["experiment_id"]


def row_counts(app) -> dict[str, int]:
    return {model.__tablename__: count_rows(app, model) for model in (*TABLES, MetricRollup)}


def play(client, runs: list[str], events, models: dict) -> None:
    """Send every event: accepted batches answer how many points were new, refused ones
    change no row."""
    for kind, run, points, *status in events:
        url = f"{RUNS}/{runs[run]}/metrics"
        if kind == "send":
            response = client.post(url, json={"metrics": wire_points(points)})
            assert response.status_code == 200, response.text
            new = remember(points, models[runs[run]])
            assert response.json() == {"received": len(points), "inserted": new,
                                       "pruned": False}
            continue
        before = row_counts(client.app)
        assert_error(client.post(url, json={"metrics": points}), status[0])
        assert row_counts(client.app) == before


# -- the checks --------------------------------------------------------------------------------

def check_stored_points(app, models: dict) -> None:
    with app.state.reader() as session:
        rows = session.execute(select(Metric.run_id, Metric.key, Metric.step, Metric.value)
                               .where(Metric.run_id.in_(list(models)))).all()
    assert {(run, key, step): value for run, key, step, value in rows} == {
        (run, key, step): value for run, model in models.items()
        for (key, step), value in model.items()}


def check_rollup_rows(app, run: str, model: dict) -> None:
    """Per key: the whole series (width 0) and every bucket of each level kept, from the
    finest up to one that holds every step in one bucket (or the coarsest width)."""
    with app.state.reader() as session:
        rows = session.execute(select(MetricRollup).where(MetricRollup.run_id == run)).scalars()
        stored: dict[str, dict] = {}
        for r in rows:
            stored.setdefault(r.key, {}).setdefault(r.width, {})[r.bucket] = (
                r.n, r.first_step, r.first_value, r.last_step, r.last_value, r.min_step,
                r.min_value, r.max_step, r.max_value)
    assert set(stored) == {key for key, _ in model}
    for key, levels in stored.items():
        points = series(model, key)
        widths = sorted(w for w in levels if w)
        assert widths == WIDTHS[:len(widths)] and widths, (key, widths)
        assert len(levels[widths[-1]]) == 1 or widths[-1] == WIDTHS[-1], (key, widths)
        assert levels == {0: {0: aggregate(points)},
                          **{w: buckets(points, w) for w in widths}}, (run, key)


def check_views(client, runs: list[str], experiment: str, models: dict) -> None:
    """Latest value per key and highest step, for one run and in the listing."""
    def view(run):
        keys = {key for key, _ in models[run]}
        steps = [step for _, step in models[run]]
        return ({key: wire(latest_value(models[run], key)) for key in keys},
                max(steps) if steps else None)

    for run in runs:
        got = client.get(f"{RUNS}/{run}").json()
        assert (got["metrics"], got["step"]) == view(run)
    listing = client.get(RUNS, params={"experiment": experiment}).json()["runs"]
    assert {r["id"]: (r["metrics"], r["step"]) for r in listing} == {r: view(r) for r in runs}


def check_histories(client, runs: list[str], models: dict) -> None:
    for max_points in HISTORY_POINTS:
        response = client.post("/api/v1/metrics/query",
                               json={"run_ids": runs, "keys": KEYS, "max_points": max_points})
        assert response.status_code == 200, response.text
        assert response.json()["series"] == [
            expected_series(run, key, series(models[run], key), max_points)
            for run in runs for key in KEYS], max_points
    run = runs[0]
    keys = sorted({key for key, _ in models[run]})
    got = client.get(f"{RUNS}/{run}/metrics", params={"max_points": 10}).json()["series"]
    assert got == [expected_series(run, key, series(models[run], key), 10) for key in keys]


def check_order_and_filter(client, runs: list[str], experiment: str, models: dict) -> None:
    """Runs sorted by a metric's latest value (NaN and missing last, ties by id), and
    filtered by it."""
    for key in KEYS:
        for descending in (False, True):
            order_by = f"metrics.{key}{' desc' if descending else ''}"
            got = client.get(RUNS, params={"experiment": experiment, "order_by": order_by})
            assert [r["id"] for r in got.json()["runs"]] == python_order(
                [{"id": run} for run in runs],
                (lambda r, key=key: latest_value(models[r["id"]], key), descending)), order_by
        got = client.get(RUNS, params={"experiment": experiment,
                                       "filter": f"metrics.{key} >= 0"}).json()["runs"]
        assert {r["id"] for r in got} == {run for run in runs if at_least_zero(
            latest_value(models[run], key))}, key


# a series' steps jumping past levels it did not have yet: alone, and beside another key's replay
JUMP = (1, [("send", 0, [("v", 0, 1.0)]), ("send", 0, [("v", 5000, 2.0)])])
JUMP_IN_A_REPLAY = (1, [("send", 0, [("a", 0, 1.0), ("v", 0, 1.0)]),
                        ("send", 0, [("a", 0, 1.0), ("v", 5000, 2.0)])])


def at_least_zero(value: float | None) -> bool:
    return value is not None and value >= 0


def test_everything_kept_at_ingest_equals_a_recomputation_from_scratch(make_client):
    client = make_client(max_metric_batch=MAX_BATCH)

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(scenario=scenarios())
    @example(scenario=JUMP)
    @example(scenario=JUMP_IN_A_REPLAY)
    def check(scenario):
        run_count, events = scenario
        runs, experiment = new_runs(client, run_count)
        models: dict[str, dict] = {run: {} for run in runs}
        play(client, runs, events, models)
        check_stored_points(client.app, models)
        for run in runs:
            check_rollup_rows(client.app, run, models[run])
        check_views(client, runs, experiment, models)
        check_histories(client, runs, models)
        check_order_and_filter(client, runs, experiment, models)

    check()
