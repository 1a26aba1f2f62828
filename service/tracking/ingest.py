"""Metric ingest: one row per (run, key, step), inserted in one statement that ignores rows
already present, so a replayed batch changes nothing; in the same transaction the per-run
latest value per key is upserted (only ever moving to a higher step) and the rollups are
brought up to date (rollups.py).
"""

from __future__ import annotations

import math
import time as clock
from typing import Iterable, Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from optrack.wire import decode_value

from ..db import driver_sql
from ..errors import TooLarge
from ..ops import instruments
from . import rollups


def ingest(session: Session, run_id: str, points: Sequence, max_batch: int) -> int:
    """Store a request's points (objects with ``key``, ``step``, ``value`` as the wire sends
    it, ``time`` or None); TooLarge over ``max_batch``, the server's one limit on a batch.
    Points without a time get the time of arrival. Returns how many were new."""
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
    unnest, SQLite an executemany of plain tuples. Then the rollups and the latest values."""
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
    if inserted:  # else every point was stored before: nothing changes
        rollups.maintain(conn, run_id, values, inserted)
        _upsert_latest(conn, run_id, values)
    instruments.points_stored(session, inserted)
    return inserted


def _upsert_latest(conn, run_id: str, values: list[tuple]) -> None:
    latest: dict[str, tuple] = {}
    for row in values:
        if row[0] not in latest or row[1] > latest[row[0]][1]:
            latest[row[0]] = row
    conn.exec_driver_sql(driver_sql(conn, _UPSERT_LATEST),
                         [(run_id, key, step, value) for key, step, value, _ in latest.values()])


# the latest value per key only ever moves to a higher step
_UPSERT_LATEST = ("INSERT INTO latest_metrics (run_id, key, step, value) VALUES (?, ?, ?, ?) "
                  "ON CONFLICT (run_id, key) DO UPDATE SET step = excluded.step, "
                  "value = excluded.value WHERE excluded.step > latest_metrics.step")
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
