"""Metric writes and reads.

Writes: one row per (run, key, step), inserted in one multi-row statement that ignores rows
already present, so a replayed batch changes nothing; the per-run latest value per key is
upserted in the same transaction, only ever moving to a higher step.

Reads: histories come downsampled from the rollups (rollups.py): per bucket of steps its first
and last points and its minimum and maximum, so spikes survive; whole series are never scanned.
"""

from __future__ import annotations

import math
import time as clock
from typing import Iterable, Sequence

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from . import rollups
from .errors import TooLarge
from .models import LatestMetric
from .schemas import decode_value



def _insert(session: Session):
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def ingest(session: Session, run_id: str, points: Sequence, max_batch: int) -> int:
    """Store a request's MetricPoints (TooLarge over ``max_batch``); points without a time get
    the time of arrival. Returns how many were new."""
    if len(points) > max_batch:
        raise TooLarge(f"metrics: at most {max_batch} points per request, got {len(points)}")
    now = clock.time()
    return record_metrics(session, run_id, ((p.key, p.step, decode_value(p.value),
                                              now if p.time is None else p.time) for p in points))


def record_metrics(session: Session, run_id: str,
                   points: Iterable[tuple[str, int, float, float]]) -> int:
    """Store (key, step, value, time) points of one run; return how many were new. NaN is
    stored as NULL. The caller owns the transaction.

    One short statement compiled once whatever the batch size: PostgreSQL gets four arrays to
    unnest, SQLite an executemany of plain tuples. Then the rollups of the touched steps."""
    rows: dict[tuple[str, int], tuple] = {}
    for key, step, value, time in points:
        if (key, step) not in rows:  # the first of duplicate points wins
            rows[key, step] = (key, step, None if math.isnan(value) else value, time)
    if not rows:
        return 0
    conn = session.connection()
    values = list(rows.values())
    if conn.dialect.name == "postgresql":
        keys, steps, vals, times = zip(*values)
        inserted = conn.execute(_PG_INSERT_METRICS, {
            "run_id": run_id, "keys": list(keys), "steps": list(steps), "vals": list(vals),
            "times": list(times)}).rowcount
    else:
        inserted = conn.exec_driver_sql(_SQLITE_INSERT_METRICS,
                                        [(run_id, *row) for row in values]).rowcount
    spans: dict[str, list[int]] = {}
    latest: dict[str, tuple] = {}
    for row in values:
        key, step = row[0], row[1]
        span = spans.setdefault(key, [step, step])
        span[0], span[1] = min(span[0], step), max(span[1], step)
        if key not in latest or step > latest[key][1]:
            latest[key] = row
    if inserted:  # a pure replay changes nothing
        for key, (lo, hi) in spans.items():
            rollups.update_rollups(session, run_id, key, lo, hi)
    insert = _insert(session)
    stmt = insert(LatestMetric).values([{"run_id": run_id, "key": r[0], "step": r[1],
                                         "value": r[2]} for r in latest.values()])
    stmt = stmt.on_conflict_do_update(
        index_elements=["run_id", "key"],
        set_={"step": stmt.excluded.step, "value": stmt.excluded.value},
        where=stmt.excluded.step > LatestMetric.step)
    session.execute(stmt)
    return inserted


_SQLITE_INSERT_METRICS = ("INSERT INTO metrics (run_id, key, step, value, time) "
                          "VALUES (?, ?, ?, ?, ?) ON CONFLICT (run_id, key, step) DO NOTHING")


# One statement for a whole batch on PostgreSQL: four arrays, unnested server-side. (A
# multi-row VALUES costs seconds of SQL compilation per 10,000 rows; executemany is slower.)
_PG_INSERT_METRICS = text(
    "INSERT INTO metrics (run_id, key, step, value, time) "
    "SELECT :run_id, u.key, u.step, u.value, u.time FROM unnest("
    "CAST(:keys AS text[]), CAST(:steps AS bigint[]), CAST(:vals AS float8[]), "
    "CAST(:times AS float8[])) AS u(key, step, value, time) "
    "ON CONFLICT (run_id, key, step) DO NOTHING")


def latest_values(session: Session, run_ids: Sequence[str]) -> dict[str, dict[str, float]]:
    """run id → {key: latest value} (NaN for NULL)."""
    out: dict[str, dict[str, float]] = {rid: {} for rid in run_ids}
    if not run_ids:
        return out
    rows = session.execute(select(LatestMetric.run_id, LatestMetric.key, LatestMetric.value)
                           .where(LatestMetric.run_id.in_(run_ids)))
    for run_id, key, value in rows:
        out[run_id][key] = math.nan if value is None else value
    return out


def latest_steps(session: Session, run_ids: Sequence[str]) -> dict[str, int]:
    """run id → the highest step logged over all its keys (runs with no metrics are absent)."""
    if not run_ids:
        return {}
    rows = session.execute(select(LatestMetric.run_id, func.max(LatestMetric.step))
                           .where(LatestMetric.run_id.in_(run_ids))
                           .group_by(LatestMetric.run_id))
    return {run_id: int(step) for run_id, step in rows}
