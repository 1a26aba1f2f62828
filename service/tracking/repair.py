"""Repair of rollups stored wrong: a series whose whole-series rollup row does not count its
stored points (or that has none) gets its rollups rebuilt from the points.

Two causes are known, both from before today's code: a batch that took a series past two or
more bucket widths it did not have yet lost the earlier points from the new widths (fixed in
``rollups.recompute``), and series logged before the rollups table existed (migration 0003
created it empty). Migration 0012 runs this once; it reads every series' count (one pass over
the metrics' primary key) and rewrites only the series that disagree.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from ..db import driver_sql
from . import rollups

_DAMAGED = ("SELECT a.run_id, a.key, a.top FROM (SELECT run_id, key, count(*) AS n, "
            "max(step) AS top FROM metrics GROUP BY run_id, key) a "
            "LEFT JOIN metric_rollups r ON r.run_id = a.run_id AND r.key = a.key "
            "AND r.width = 0 AND r.bucket = 0 WHERE r.n IS NULL OR r.n <> a.n")
_FORGET = "DELETE FROM metric_rollups WHERE run_id = ? AND key = ?"


def repair_rollups(conn: Connection) -> int:
    """Rebuild the rollups of every series whose count disagrees with its points; how many."""
    damaged = conn.exec_driver_sql(_DAMAGED).all()
    for run_id, key, top in damaged:
        conn.exec_driver_sql(driver_sql(conn, _FORGET), (run_id, key))
        rollups.recompute(conn, run_id, key, 0, top)
    return len(damaged)
