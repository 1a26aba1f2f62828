"""Downsampled histories read from the rollups (rollups.py): a chart never scans whole series.

A read picks, per series, the finest bucket width with at most ``max_points / 4`` buckets and
reads every series of that width in one statement (each bucket gives its first, last, minimum
and maximum points); series short enough come raw.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Metric, MetricRollup
from .rollups import ROLLUP_WIDTHS

POINTS_PER_BUCKET = 4  # first, last, min, max


def _raw(session: Session, run_id: str, key: str, total: int):
    rows = session.execute(select(Metric.step, Metric.value)
                           .where(Metric.run_id == run_id, Metric.key == key)
                           .order_by(Metric.step)).all()
    return [r[0] for r in rows], [r[1] for r in rows], total


def histories(session, run_ids, keys, max_points):
    """{(run_id, key): (steps, values, total)} for every series, from the rollups: the finest
    width with at most max_points // 4 buckets; series of <= max_points points come raw."""
    r = MetricRollup.__table__.c
    summary = {(row.run_id, row.key): row for row in session.execute(
        select(r.run_id, r.key, r.n, r.first_step, r.last_step).where(
            r.run_id.in_(run_ids), r.key.in_(keys), r.width == 0))}
    out = {}
    buckets_max = max(1, max_points // POINTS_PER_BUCKET)
    by_width: dict[int, list] = {}
    for (run_id, key), row in summary.items():
        if row.n <= max_points:
            out[run_id, key] = _raw(session, run_id, key, row.n)
            continue
        width = next(w for w in ROLLUP_WIDTHS
                     if row.last_step // w - row.first_step // w + 1 <= buckets_max)
        by_width.setdefault(width, []).append((run_id, key, row.n))
    for width, series in by_width.items():
        ids = [s[0] for s in series]
        wanted = {(s[0], s[1]): s[2] for s in series}
        points: dict[tuple, dict] = {k: {} for k in wanted}
        for row in session.execute(
                select(r.run_id, r.key, r.first_step, r.first_value, r.last_step, r.last_value,
                       r.min_step, r.min_value, r.max_step, r.max_value)
                .where(r.run_id.in_(ids), r.key.in_(keys), r.width == width)):
            p = points.get((row[0], row[1]))
            if p is None:
                continue
            p[row[2]] = row[3]
            p[row[4]] = row[5]
            p[row[6]] = row[7]
            p[row[8]] = row[9]
        for k, p in points.items():
            steps = sorted(p)
            out[k] = (steps, [p[s] for s in steps], wanted[k])
    return out
