"""Metric writes and reads.

Writes: one row per (run, key, step), inserted in one multi-row statement that ignores rows
already present, so a replayed batch changes nothing; the per-run latest value per key is
upserted in the same transaction, only ever moving to a higher step.

Reads: histories are downsampled in SQL. The steps of a series are cut into buckets; each bucket
keeps its first and last points and its minimum and maximum, so spikes survive. Only the kept
points leave the database.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

from sqlalchemy import and_, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from .models import LatestMetric, Metric

POINTS_PER_BUCKET = 4  # first, last, min, max


def _insert(session: Session):
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def record_metrics(session: Session, run_id: str,
                   points: Iterable[tuple[str, int, float, float]]) -> int:
    """Store (key, step, value, time) points of one run; return how many were new. NaN is
    stored as NULL. The caller owns the transaction."""
    rows: dict[tuple[str, int], dict] = {}
    for key, step, value, time in points:
        rows.setdefault((key, step), {"run_id": run_id, "key": key, "step": step,
                                      "value": None if math.isnan(value) else value,
                                      "time": time})
    if not rows:
        return 0
    values = list(rows.values())
    if session.get_bind().dialect.name == "postgresql":
        inserted = session.execute(_PG_INSERT_METRICS, {
            "run_id": run_id, "keys": [r["key"] for r in values],
            "steps": [r["step"] for r in values], "vals": [r["value"] for r in values],
            "times": [r["time"] for r in values]}).rowcount
    else:
        stmt = sqlite_insert(Metric.__table__).on_conflict_do_nothing(
            index_elements=["run_id", "key", "step"])
        inserted = session.execute(stmt, values).rowcount  # executemany: the sum
    latest: dict[str, dict] = {}
    for row in values:
        if row["key"] not in latest or row["step"] > latest[row["key"]]["step"]:
            latest[row["key"]] = row
    insert = _insert(session)
    stmt = insert(LatestMetric).values([{k: r[k] for k in ("run_id", "key", "step", "value")}
                                        for r in latest.values()])
    stmt = stmt.on_conflict_do_update(
        index_elements=["run_id", "key"],
        set_={"step": stmt.excluded.step, "value": stmt.excluded.value},
        where=stmt.excluded.step > LatestMetric.step)
    session.execute(stmt)
    return inserted


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


def history(session: Session, run_id: str, key: str, max_points: int):
    """(steps, values, total) of one series, at most ``max_points`` points, downsampled in SQL."""
    where = and_(Metric.run_id == run_id, Metric.key == key)
    total, lo, hi = session.execute(
        select(func.count(), func.min(Metric.step), func.max(Metric.step)).where(where)).one()
    if total == 0:
        return [], [], 0
    if total <= max_points:
        rows = session.execute(select(Metric.step, Metric.value).where(where)
                               .order_by(Metric.step)).all()
        return [r[0] for r in rows], [r[1] for r in rows], total
    buckets = max(1, max_points // POINTS_PER_BUCKET)
    width = -(-(hi - lo + 1) // buckets)  # steps per bucket, rounded up: at most `buckets`
    bucket = (Metric.step - lo) // width  # integer division, no overflow near 2^63
    ranked = select(
        Metric.step, Metric.value,
        func.row_number().over(partition_by=bucket, order_by=Metric.step).label("first"),
        func.row_number().over(partition_by=bucket, order_by=Metric.step.desc()).label("last"),
        func.row_number().over(partition_by=bucket,
                               order_by=(Metric.value.asc().nulls_last(), Metric.step)).label("lo"),
        func.row_number().over(partition_by=bucket,
                               order_by=(Metric.value.desc().nulls_last(), Metric.step)).label("hi"),
    ).where(where).subquery()
    rows = session.execute(
        select(ranked.c.step, ranked.c.value)
        .where((ranked.c["first"] == 1) | (ranked.c["last"] == 1) | (ranked.c.lo == 1)
               | (ranked.c.hi == 1))
        .order_by(ranked.c.step)).all()
    return [r[0] for r in rows], [r[1] for r in rows], total
