"""Pre-aggregated metric histories, so a chart never scans whole series.

For each (run, key) the ``metric_rollups`` table holds buckets of widths 64 × 4^k steps, each
with its point count and its first, last, minimum and maximum points, plus one width-0 row for
the whole series. Ingestion recomputes only the buckets a batch touched: the finest level from
the stored points, each coarser level from the one below — exact under replays and out-of-order
batches. A history read picks, per series, the finest width with at most ``max_points / 4``
buckets and reads every series of that width in one statement; series short enough come raw.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import insert_for
from ..models import Metric, MetricRollup

POINTS_PER_BUCKET = 4  # first, last, min, max

def _raw(session: Session, run_id: str, key: str, total: int):
    rows = session.execute(select(Metric.step, Metric.value)
                           .where(Metric.run_id == run_id, Metric.key == key)
                           .order_by(Metric.step)).all()
    return [r[0] for r in rows], [r[1] for r in rows], total


ROLLUP_BASE, ROLLUP_FANOUT = 64, 4
ROLLUP_WIDTHS = []
_w = ROLLUP_BASE
while _w <= 2**63:
    ROLLUP_WIDTHS.append(_w)
    _w *= ROLLUP_FANOUT
_COLS = ("n", "first_step", "first_value", "last_step", "last_value", "min_step", "min_value",
         "max_step", "max_value")


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


def _merge(children, factor):
    """Child bucket rows (bucket, *cols) in bucket order -> parent buckets."""
    out: dict[int, list] = {}
    for child in children:
        b = child[0] // factor
        c = list(child[1:])
        a = out.get(b)
        if a is None:
            out[b] = c
            continue
        a[0] += c[0]
        a[3], a[4] = c[3], c[4]
        if c[6] is not None and (a[6] is None or c[6] < a[6]):
            a[5], a[6] = c[5], c[6]
        if c[8] is not None and (a[8] is None or c[8] > a[8]):
            a[7], a[8] = c[7], c[8]
    return out


_UPSERTS: dict[str, object] = {}  # dialect name → the rollup upsert, built once (it is immutable)


def _upsert_statement(session):
    """The dialect's INSERT … ON CONFLICT DO UPDATE of rollup rows: building it took more time
    than running it, at every metrics write."""
    dialect = session.get_bind().dialect.name
    stmt = _UPSERTS.get(dialect)
    if stmt is None:
        stmt = insert_for(session)(MetricRollup.__table__)
        stmt = stmt.on_conflict_do_update(index_elements=["run_id", "key", "width", "bucket"],
                                          set_={c: stmt.excluded[c] for c in _COLS})
        _UPSERTS[dialect] = stmt
    return stmt


def _upsert_rollups(session, run_id, key, width, buckets):
    if not buckets:
        return
    session.connection().execute(_upsert_statement(session), [
        {"run_id": run_id, "key": key, "width": width, "bucket": b, **dict(zip(_COLS, a))}
        for b, a in buckets.items()])


def update_rollups(session, run_id, key, lo, hi):
    """Recompute the rollup buckets that cover steps lo..hi of one series: the finest level
    from the stored points, each coarser one from the level below, the whole series last."""
    conn = session.connection()
    r = MetricRollup.__table__.c
    known = conn.execute(select(r.last_step).where(r.run_id == run_id, r.key == key,
                                                   r.width == 0)).scalar()
    top_step = hi if known is None else max(hi, known)
    w = ROLLUP_WIDTHS[0]
    m = Metric.__table__.c
    rows = conn.execute(select(m.step, m.value).where(
        m.run_id == run_id, m.key == key, m.step >= lo // w * w,
        m.step < (hi // w + 1) * w).order_by(m.step)).all()
    _upsert_rollups(session, run_id, key, w, _aggregate(rows, w))
    for prev, w in zip(ROLLUP_WIDTHS, ROLLUP_WIDTHS[1:]):
        f = w // prev
        children = conn.execute(select(r.bucket, *[r[c] for c in _COLS]).where(
            r.run_id == run_id, r.key == key, r.width == prev,
            r.bucket >= lo // w * f, r.bucket < (hi // w + 1) * f).order_by(r.bucket)).all()
        merged = _merge(children, f)
        _upsert_rollups(session, run_id, key, w, merged)
        if w > top_step:  # every step of the series lies in bucket 0 of this level
            break
    # width 0: the whole series, from the coarsest level
    top = conn.execute(select(r.bucket, *[r[c] for c in _COLS]).where(
        r.run_id == run_id, r.key == key, r.width == w).order_by(r.bucket)).all()
    _upsert_rollups(session, run_id, key, 0, {0: list(_merge([(0, *t[1:]) for t in top], 1)[0])})


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
