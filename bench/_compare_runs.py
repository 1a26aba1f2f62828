"""The two comparisons of bench/compare.py, through the service: the tuned one (a ``compare``
experiment) and the untuned one (a grid of the book's default learning rates × the tuned
comparison's final seeds), each read back as the same rows, pairs and compute."""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from optrack.wire import decode_value
from service.search.statistics import ALPHA, pairs, ranks, summarise
from tests.harness import Server

from ._search_runs import OBJECTIVE, series

OPTIMIZERS = ("sgd", "momentum", "adagrad", "adam")
BOOK_LR = {"sgd": 0.01, "momentum": 0.01, "adagrad": 0.01, "adam": 0.001}  # demo.py CHAPTER_6
CONVENTION = "book"  # the book's update rules for both tables, so only the lr differs
MODEL = {"kind": "mlp", "hidden": [100, 100]}
TUNE = {"optimizer.lr": {"log_uniform": [1e-5, 1.0]}}
PRUNER = {"name": "asha"}  # the service's ASHA defaults
BATCH_SIZE, BASE_SEED = 128, 0


@dataclass(frozen=True)
class Setting:
    epochs: int
    budget: int  # search trials per optimizer
    final_seeds: int
    parallelism: int  # runs of the comparison queued or running at once

    @property
    def seeds(self) -> list[int]:
        """The tuned final runs' seeds (service/search/studies.py: base seed + 1, + 2, …)."""
        return [BASE_SEED + k for k in range(1, self.final_seeds + 1)]

    def tuned_request(self) -> dict[str, Any]:
        return {"name": "bench compare tuned", "tags": ["bench-compare"], "dataset": "digits",
                "model": MODEL, "optimizer": {"convention": CONVENTION},
                "training": {"epochs": self.epochs, "batch_size": BATCH_SIZE,
                             "seed": BASE_SEED},
                "search": {"method": "compare", "optimizers": list(OPTIMIZERS), "tune": TUNE,
                           "budget": self.budget, "sampler": "tpe",
                           "final_seeds": self.final_seeds, "seed": 0, "objective": OBJECTIVE,
                           "pruner": PRUNER, "parallelism": self.parallelism}}

    def untuned_request(self) -> dict[str, Any]:
        return {"name": "bench compare untuned (book lr)", "tags": ["bench-compare"],
                "dataset": "digits", "model": MODEL,
                "optimizer": [{"name": name, "lr": BOOK_LR[name], "convention": CONVENTION}
                              for name in OPTIMIZERS],
                "training": {"epochs": self.epochs, "batch_size": BATCH_SIZE,
                             "seed": self.seeds}}


@dataclass
class Row:
    optimizer: str
    lr: float | None
    mean: float | None
    std: float | None
    ci95: tuple[float, float] | None
    n: int
    diverged: int
    failed: int
    values: list[float]  # the final runs' objectives (inf: diverged)
    rank: int | None = None
    trials: int | None = None  # tuned only: search trials, pruned ones, their steps
    pruned: int | None = None
    search_steps: int | None = None


@dataclass
class Result:
    label: str
    rows: list[Row]
    pairs: list[dict[str, Any]]
    wall: float
    runs: int = 0
    steps: int = 0  # optimizer steps trained, over every run
    final_steps: int = 0  # of those, the final runs'
    statuses: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)


# -- the statistics, as service/search/comparison.py computes them ---------------------------

def row_of(name: str, lr: float | None, values: list[float], runs: int) -> Row:
    """An optimizer's row from its final runs' objectives (``values``: those of the runs that
    did not fail; inf for a diverged one) out of ``runs`` final runs."""
    finite = [v for v in values if math.isfinite(v)]
    row = Row(name, lr, None, None, None, len(finite), len(values) - len(finite),
              runs - len(values), values)
    if finite:
        summary = summarise(finite)
        row.mean, row.std, row.ci95 = summary.mean, summary.std, summary.ci95
    return row


def rank_and_test(rows: list[Row]) -> list[dict[str, Any]]:
    """Ranks the rows in place (by final mean, inf when none is finite) and returns the
    Welch + Holm pairs."""
    means = {r.optimizer: r.mean if r.mean is not None else math.inf for r in rows}
    for name, rank in ranks(means, OBJECTIVE["mode"]).items():
        next(r for r in rows if r.optimizer == name).rank = rank
    return [{"a": p.a, "b": p.b, "p_value": p.p_value, "p_holm": p.p_holm,
             "significant": p.significant}
            for p in pairs({r.optimizer: r.values for r in rows}, ALPHA)]


def objective_of(server: Server, run: dict[str, Any]) -> float | None:
    """A finished run's objective as the service scores it: the last stored val_loss of a
    succeeded run, inf for a diverged one, None (failed) otherwise or when it is NaN."""
    if run["status"] == "diverged":
        return math.inf
    if run["status"] != "succeeded":
        return None
    values = server.history(run["id"], [OBJECTIVE["metric"]])[OBJECTIVE["metric"]]["values"]
    last = decode_value(values[-1]) if values else math.nan
    return None if math.isnan(last) else last


# -- compute ----------------------------------------------------------------------------------

def experiment_runs(client: httpx.Client, experiment_id: str) -> dict[str, dict[str, Any]]:
    response = client.get("/api/v1/runs", params={"experiment": experiment_id, "limit": 1000})
    response.raise_for_status()
    return {r["id"]: r for r in response.json()["runs"]}


def steps_of(client: httpx.Client, run_ids: list[str]) -> dict[str, int]:
    """Optimizer steps each run trained: its stored train_loss points (logged at every step,
    1..n; a pruned run's, up to where it stopped), as bench/_search_runs.py counts them."""
    train = series(client, run_ids, "train_loss", 10)  # total_points is exact
    return {run_id: train[run_id]["total_points"] for run_id in run_ids}


def account(result: Result, runs: dict[str, dict[str, Any]], steps: dict[str, int],
            final_ids: set[str]) -> None:
    result.runs = len(runs)
    result.steps = sum(steps.values())
    result.final_steps = sum(steps[i] for i in final_ids)
    result.statuses = Counter(r["status"] for r in runs.values())
    unequal = sum((r["step"] or 0) != steps[i] for i, r in runs.items())
    if unequal:
        result.notes.append(f"{unequal} runs' highest logged step differs from their stored "
                            f"train_loss points")


# -- the two comparisons ----------------------------------------------------------------------

SETTLED = ("done", "no complete trial")


def submit(client: httpx.Client, request: dict[str, Any]) -> str:
    response = client.post("/api/v1/experiments", json=request)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def wait_experiment(client: httpx.Client, experiment_id: str, timeout: float,
                    compared: bool) -> dict[str, Any]:
    """Poll until no run is queued or running and, for a comparison, every optimizer has
    settled; the experiment's detail."""
    deadline = time.monotonic() + timeout
    while True:
        detail = client.get(f"/api/v1/experiments/{experiment_id}").json()
        idle = not any(detail["status_counts"].get(s) for s in ("queued", "running"))
        if idle and (not compared or all(o["status"] in SETTLED
                                         for o in detail["comparison"]["optimizers"])):
            return detail
        if time.monotonic() > deadline:
            raise TimeoutError(f"experiment {experiment_id} not done after {timeout:.0f} s: "
                               f"{detail['status_counts']}")
        time.sleep(0.5)


def tuned_row(o: dict[str, Any], trials: list[dict[str, Any]], steps: dict[str, int]) -> Row:
    final = o["final"] or {}
    ci = final.get("ci95")
    search = [t for t in trials if t["optimizer"] == o["optimizer"] and not t["final"]]
    return Row(o["optimizer"], (o["best_params"] or {}).get("optimizer.lr"), final.get("mean"),
               final.get("std"), tuple(ci) if ci else None, final.get("n", 0),
               final.get("diverged", 0), final.get("failed", 0),
               [decode_value(v) for v in final.get("values", [])], o["rank"], o["trials"],
               o["pruned"], sum(steps[t["run_id"]] for t in search))


def seed_of(run: dict[str, Any]) -> int:
    return run["config"]["training"]["seed"]


def check_tuned(server: Server, setting: Setting, comparison: dict[str, Any],
                runs: dict[str, dict[str, Any]], rows: list[Row]) -> list[str]:
    """The final runs' seeds, and the API's statistics recomputed here from the final runs'
    stored val_loss as the untuned table's are: notes."""
    notes, mine = [], []
    for o in comparison["optimizers"]:
        finals = sorted((runs[i] for i in o["final_run_ids"]), key=seed_of)
        if [seed_of(r) for r in finals] != setting.seeds:
            notes.append(f"{o['optimizer']}'s final runs used seeds "
                         f"{[seed_of(r) for r in finals]}, not {setting.seeds}")
        values = [objective_of(server, r) for r in finals]
        mine.append(row_of(o["optimizer"], None, [v for v in values if v is not None],
                           len(finals)))
    tested = rank_and_test(mine)
    same = (all(a.rank == b.rank and a.n == b.n and _close(a.mean, b.mean)
                for a, b in zip(mine, rows))
            and all(p["significant"] == q["significant"] and _close(p["p_holm"], q["p_holm"])
                    for p, q in zip(tested, comparison["pairs"])))
    notes.append("cross-check: the means, ranks and Holm p-values recomputed from the final "
                 "runs' stored val_loss " + ("match the API's comparison" if same else
                                            "DIFFER from the API's comparison"))
    return notes


def _close(a: float | None, b: float | None) -> bool:
    return a == b or (a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9))


def run_tuned(server: Server, client: httpx.Client, setting: Setting,
              timeout: float) -> Result:
    started = time.perf_counter()
    experiment_id = submit(client, setting.tuned_request())
    comparison = wait_experiment(client, experiment_id, timeout, compared=True)["comparison"]
    wall = time.perf_counter() - started
    runs = experiment_runs(client, experiment_id)
    steps = steps_of(client, list(runs))
    trials = client.get(f"/api/v1/experiments/{experiment_id}/trials").json()["trials"]
    rows = [tuned_row(o, trials, steps) for o in comparison["optimizers"]]
    result = Result("tuned", rows, comparison["pairs"], wall)
    account(result, runs, steps, {t["run_id"] for t in trials if t["final"]})
    result.notes += check_tuned(server, setting, comparison, runs, rows)
    return result


def run_untuned(server: Server, client: httpx.Client, setting: Setting,
                timeout: float) -> Result:
    started = time.perf_counter()
    experiment_id = submit(client, setting.untuned_request())
    wait_experiment(client, experiment_id, timeout, compared=False)
    wall = time.perf_counter() - started
    runs = experiment_runs(client, experiment_id)
    rows, notes = [], []
    for name in OPTIMIZERS:
        mine = sorted((r for r in runs.values() if r["config"]["optimizer"]["name"] == name),
                      key=seed_of)
        if [seed_of(r) for r in mine] != setting.seeds:
            notes.append(f"{name}'s runs used seeds {[seed_of(r) for r in mine]}")
        values = [objective_of(server, r) for r in mine]
        rows.append(row_of(name, mine[0]["config"]["optimizer"]["lr"],
                           [v for v in values if v is not None], len(mine)))
    result = Result("untuned", rows, rank_and_test(rows), wall, notes=notes)
    account(result, runs, steps_of(client, list(runs)), set(runs))
    return result
