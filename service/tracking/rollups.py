"""Pre-aggregated metric histories, maintained at ingest (read by histories.py).

For each (run, key) the ``metric_rollups`` table holds buckets of widths 64 × 4^k steps, each
with its point count and its first, last, minimum and maximum points, plus one width-0 row for
the whole series. Levels exist up to the first width whose bucket 0 holds every step. A stored
point never changes (the first of a (key, step) wins), so a batch only ever adds points:

- when every point of the batch was new (the common case), its own buckets are computed in
  memory and merged into the stored ones by one upsert (``_MERGE``: counts add, the earlier
  first, the later last, the smaller minimum — the earlier step on a tie — win);
- otherwise (some points were replays), the touched buckets are recomputed from the stored
  points, each coarser level from the one below (``recompute``).

Both give exactly what a recomputation of the whole series from scratch would.
"""

from __future__ import annotations

import operator
from typing import Sequence

from sqlalchemy.engine import Connection

from ..db import driver_sql

ROLLUP_BASE, ROLLUP_FANOUT = 64, 4
ROLLUP_WIDTHS = []
_w = ROLLUP_BASE
while _w <= 2**63:
    ROLLUP_WIDTHS.append(_w)
    _w *= ROLLUP_FANOUT
_COLS = ("n", "first_step", "first_value", "last_step", "last_value", "min_step", "min_value",
         "max_step", "max_value")
N, FIRST_STEP, FIRST_VALUE, LAST_STEP, LAST_VALUE, MIN_STEP, MIN_VALUE, MAX_STEP, MAX_VALUE = (
    range(9))


def _aggregate(points, width):
    """(step, value) rows in step order -> {bucket: [n, first_step, first_value, last_step,
    last_value, min_step, min_value, max_step, max_value]}; NULL values lose min and max."""
    out: dict[int, list] = {}
    for step, value in points:
        b = step // width
        a = out.get(b)
        if a is None:
            out[b] = [1, step, value, step, value, step, value, step, value]
            continue
        a[0] += 1
        a[3], a[4] = step, value
        if value is not None:
            if a[6] is None or value < a[6]:
                a[5], a[6] = step, value
            if a[8] is None or value > a[8]:
                a[7], a[8] = step, value
    return out


def _wins(new_value, new_step, old_value, old_step, better) -> bool:
    """Whether the (value, step) of one set of points is the extreme (``better``: < for the
    minimum) of its union with another: a value beats NULL, a tie goes to the earlier step."""
    if new_value is None or old_value is None:
        return old_value is None and (new_value is not None or new_step < old_step)
    return better(new_value, old_value) or (new_value == old_value and new_step < old_step)


def combine(a: Sequence, b: Sequence) -> list:
    """The aggregate of two disjoint sets of points from theirs (``_MERGE`` in SQL)."""
    out = [a[N] + b[N]]
    out += b[FIRST_STEP:LAST_STEP] if b[FIRST_STEP] < a[FIRST_STEP] else a[FIRST_STEP:LAST_STEP]
    out += b[LAST_STEP:MIN_STEP] if b[LAST_STEP] > a[LAST_STEP] else a[LAST_STEP:MIN_STEP]
    low = _wins(b[MIN_VALUE], b[MIN_STEP], a[MIN_VALUE], a[MIN_STEP], operator.lt)
    out += b[MIN_STEP:MAX_STEP] if low else a[MIN_STEP:MAX_STEP]
    high = _wins(b[MAX_VALUE], b[MAX_STEP], a[MAX_VALUE], a[MAX_STEP], operator.gt)
    out += b[MAX_STEP:] if high else a[MAX_STEP:]
    return out


def _merge(children, factor):
    """Child bucket rows (bucket, *cols) -> parent buckets."""
    out: dict[int, list] = {}
    for child in children:
        b = child[0] // factor
        a = out.get(b)
        out[b] = list(child[1:]) if a is None else combine(a, child[1:])
    return out


def _levels(top_step: int) -> list[int]:
    """The widths a series whose highest step is ``top_step`` has rows at: the finest two, and
    on up to the first whose bucket 0 holds every step."""
    widths = [ROLLUP_BASE]
    for w in ROLLUP_WIDTHS[1:]:
        widths.append(w)
        if w > top_step:
            break
    return widths


def maintain(conn: Connection, run_id: str, rows: Sequence[tuple], inserted: int) -> None:
    """Bring the rollups of one run up to date after ``rows`` (key, step, value, time; no two
    of the same key and step) were offered and ``inserted`` (> 0) of them were new."""
    series: dict[str, list[tuple[int, float | None]]] = {}
    for key, step, value, _ in rows:
        series.setdefault(key, []).append((step, value))
    if inserted < len(rows):
        for key, points in series.items():
            steps = [p[0] for p in points]
            recompute(conn, run_id, key, min(steps), max(steps))
        return
    totals = _totals(conn, run_id, list(series))
    upserts = []
    for key, points in series.items():
        points.sort(key=operator.itemgetter(0))
        upserts += _added(run_id, key, points, totals.get(key))
    conn.exec_driver_sql(driver_sql(conn, _MERGE), upserts)


def _added(run_id: str, key: str, points: list, old: list | None) -> list[tuple]:
    """The rows to merge into a series' rollups for new ``points`` (in step order): their own
    buckets at every level the series now has, plus — at each level the series did not have
    yet — its earlier points, which all lie in bucket 0 there; ``old``: the stored width-0
    aggregate (None for a new series)."""
    existing = set(_levels(old[LAST_STEP])) if old is not None else set()
    top = points[-1][0] if old is None else max(points[-1][0], old[LAST_STEP])
    out, level, prev = [], _aggregate(points, ROLLUP_BASE), ROLLUP_BASE
    for w in _levels(top):
        if w != prev:
            level, prev = _merge(((b, *a) for b, a in level.items()), w // prev), w
        rows = dict(level)
        if old is not None and w not in existing:
            rows[0] = combine(old, rows[0]) if 0 in rows else list(old)
        out += [(run_id, key, w, b, *a) for b, a in rows.items()]
    whole = _merge(((0, *a) for a in level.values()), 1)[0]
    return out + [(run_id, key, 0, 0, *whole)]


def recompute(conn: Connection, run_id: str, key: str, lo: int, hi: int) -> None:
    """Recompute the rollup buckets that cover steps lo..hi of one series from the stored
    points: the finest level from the points, each coarser one from the level below, the
    whole series last."""
    known = conn.exec_driver_sql(driver_sql(conn, _TOP), (run_id, key)).scalar()
    w = ROLLUP_BASE
    rows = conn.exec_driver_sql(driver_sql(conn, _POINTS), (
        run_id, key, lo // w * w, (hi // w + 1) * w)).all()
    _replace(conn, run_id, key, w, _aggregate(rows, w))
    levels = _levels(hi if known is None else max(hi, known))
    existing = set(_levels(known)) if known is not None else set()
    for prev, w in zip(levels, levels[1:]):
        f = w // prev
        # a level the series did not have yet holds its earlier points in bucket 0
        first = lo // w * f if w in existing else 0
        children = conn.exec_driver_sql(driver_sql(conn, _BUCKETS), (
            run_id, key, prev, first, (hi // w + 1) * f)).all()
        _replace(conn, run_id, key, w, _merge(children, f))
    top = conn.exec_driver_sql(driver_sql(conn, _BUCKETS), (run_id, key, w, 0, 2**63 - 1)).all()
    _replace(conn, run_id, key, 0, _merge([(0, *t[1:]) for t in top], 1))


def _replace(conn: Connection, run_id: str, key: str, width: int, buckets: dict) -> None:
    if buckets:
        rows = [(run_id, key, width, b, *a) for b, a in buckets.items()]
        conn.exec_driver_sql(driver_sql(conn, _REPLACE), rows)


def _totals(conn: Connection, run_id: str, keys: list[str]) -> dict[str, list]:
    """key → the stored width-0 aggregate, for those of ``keys`` the run has points of (in
    chunks: a driver takes a bounded number of parameters per statement)."""
    out = {}
    for start in range(0, len(keys), _KEYS_PER_STATEMENT):
        chunk = keys[start:start + _KEYS_PER_STATEMENT]
        marks = ", ".join("?" * len(chunk))
        found = conn.exec_driver_sql(driver_sql(conn, _TOTALS + f" AND key IN ({marks})"),
                                     (run_id, *chunk))
        out.update((row[0], list(row[1:])) for row in found)
    return out


_KEYS_PER_STATEMENT = 500


_ALL = ", ".join(_COLS)
_INSERT = (f"INSERT INTO metric_rollups (run_id, key, width, bucket, {_ALL}) "
           f"VALUES ({', '.join('?' * (4 + len(_COLS)))}) "
           f"ON CONFLICT (run_id, key, width, bucket) DO UPDATE SET ")
_REPLACE = _INSERT + ", ".join(f"{c} = excluded.{c}" for c in _COLS)


def _extreme(which: str, better: str) -> str:
    """SQL: the new points' minimum (``better`` "<") or maximum (">") wins (``_wins``)."""
    new, old = f"excluded.{which}", f"metric_rollups.{which}"
    new_step, old_step = f"excluded.{which[:3]}_step", f"metric_rollups.{which[:3]}_step"
    return (f"({new} IS NOT NULL AND ({old} IS NULL OR {new} {better} {old} OR "
            f"({new} = {old} AND {new_step} < {old_step}))) OR "
            f"({new} IS NULL AND {old} IS NULL AND {new_step} < {old_step})")


def _pick(condition: str, columns: tuple[str, ...]) -> list[str]:
    return [f"{c} = CASE WHEN {condition} THEN excluded.{c} ELSE metric_rollups.{c} END"
            for c in columns]


_MERGE = _INSERT + ", ".join([
    "n = metric_rollups.n + excluded.n",
    *_pick("excluded.first_step < metric_rollups.first_step", ("first_step", "first_value")),
    *_pick("excluded.last_step > metric_rollups.last_step", ("last_step", "last_value")),
    *_pick(_extreme("min_value", "<"), ("min_step", "min_value")),
    *_pick(_extreme("max_value", ">"), ("max_step", "max_value"))])
_TOTALS = f"SELECT key, {_ALL} FROM metric_rollups WHERE run_id = ? AND width = 0"
_TOP = "SELECT last_step FROM metric_rollups WHERE run_id = ? AND key = ? AND width = 0"
_POINTS = ("SELECT step, value FROM metrics WHERE run_id = ? AND key = ? AND step >= ? "
           "AND step < ? ORDER BY step")
_BUCKETS = (f"SELECT bucket, {_ALL} FROM metric_rollups WHERE run_id = ? AND key = ? "
            f"AND width = ? AND bucket >= ? AND bucket < ? ORDER BY bucket")
