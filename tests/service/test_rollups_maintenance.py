"""Rollups maintained at ingest against rollups rebuilt from scratch, row for row, on both engines.

Ingest merges a batch of new points into the stored rollups in memory and one upsert, and falls
back to recomputing the touched buckets from the stored points when a batch replays some;
whatever the order of the batches, their replays, NULLs (NaN), infinities and ties, the table
must hold exactly what one recomputation of every series from its stored points gives.
"""

from __future__ import annotations

import itertools
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from service.models import Metric, MetricRollup, Project, Run
from service.tracking import rollups
from service.tracking.ingest import record_metrics
from service.tracking.repair import repair_rollups

_RUNS = itertools.count()
# steps cross the first few bucket widths (64, 256, 1,024, 4,096) and reach far levels
STEPS = st.one_of(st.integers(0, 300), st.integers(0, 5_000), st.integers(0, 2**40))
# few distinct values, so minima and maxima tie; NaN is stored as NULL
VALUES = st.one_of(st.sampled_from([0.0, 1.0, -1.0, 2.5]), st.just(math.nan),
                   st.sampled_from([math.inf, -math.inf]),
                   st.floats(allow_nan=False, allow_infinity=False, width=32))
POINT = st.tuples(st.sampled_from(["loss", "acc"]), STEPS, VALUES)
BATCHES = st.lists(st.lists(POINT, min_size=1, max_size=40), min_size=1, max_size=8)
# after each batch: nothing, replay an earlier batch whole, or resend half of it with new points
REPLAYS = st.lists(st.sampled_from(["none", "whole", "mixed"]), min_size=8, max_size=8)


def _new_run(engine) -> str:
    with Session(engine) as session:
        project = Project(name=f"rollups-{next(_RUNS)}")
        session.add(project)
        session.flush()
        run = Run(project_id=project.id, name="r", status="running", config={})
        session.add(run)
        session.commit()
        return run.id


def _ingest(engine, run_id: str, batch) -> None:
    with Session(engine) as session, session.begin():
        record_metrics(session, run_id, [(k, s, v, 0.0) for k, s, v in batch])


def _table(session: Session, run_id: str) -> list[tuple]:
    r = MetricRollup.__table__.c
    return [tuple(row) for row in session.execute(
        select(MetricRollup.__table__).where(r.run_id == run_id)
        .order_by(r.key, r.width, r.bucket))]


def _rebuilt(engine, run_id: str) -> list[tuple]:
    """The run's rollups recomputed from its stored points alone (rolled back afterwards)."""
    with Session(engine) as session:
        session.begin()
        tops = session.execute(select(Metric.key, Metric.step).where(
            Metric.run_id == run_id).order_by(Metric.key, Metric.step.desc())).all()
        session.execute(delete(MetricRollup).where(MetricRollup.run_id == run_id))
        for key in {k for k, _ in tops}:
            top = max(step for k, step in tops if k == key)
            rollups.recompute(session.connection(), run_id, key, 0, top)
        rebuilt = _table(session, run_id)
        session.rollback()
    return rebuilt


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=BATCHES, replays=REPLAYS, data=st.data())
def test_rollups_after_any_batches_equal_rollups_rebuilt_from_the_stored_points(
        engine, batches, replays, data):
    run_id = _new_run(engine)
    sent = []
    for batch, replay in zip(batches, replays):
        _ingest(engine, run_id, batch)
        sent.append(batch)
        earlier = data.draw(st.sampled_from(sent))
        if replay == "whole":
            _ingest(engine, run_id, earlier)
        elif replay == "mixed":
            _ingest(engine, run_id, earlier[: len(earlier) // 2 + 1] + data.draw(
                st.lists(POINT, min_size=1, max_size=10)))
    with Session(engine) as session:
        maintained = _table(session, run_id)
    assert maintained == _rebuilt(engine, run_id)


def test_a_series_growing_past_its_top_level_counts_its_earlier_points_there(engine):
    """Steps 0..9 give levels 64 and 256; step 70,000 adds levels up to 262,144, whose bucket 0
    must hold the earlier ten points too."""
    run_id = _new_run(engine)
    _ingest(engine, run_id, [("loss", s, float(s), ) for s in range(10)])
    _ingest(engine, run_id, [("loss", 70_000, -1.0)])
    with Session(engine) as session:
        rows = {(row.width, row.bucket): row for row in session.execute(
            select(MetricRollup).where(MetricRollup.run_id == run_id)).scalars()}
    assert rows[65_536, 1].n == 1 and rows[262_144, 0].n == 11
    assert (rows[0, 0].n, rows[0, 0].min_value, rows[0, 0].max_step) == (11, -1.0, 9)
    assert _table_of(engine, run_id) == _rebuilt(engine, run_id)


def _table_of(engine, run_id: str) -> list[tuple]:
    with Session(engine) as session:
        return _table(session, run_id)


def test_repair_rebuilds_the_series_stored_wrong_and_only_those(engine):
    """As the old code left them: a series that jumped past widths it did not have (no bucket 0
    there, a whole-series row without the earlier points) and one logged before rollups
    existed (no rows at all); a third, right, is left as it is."""
    jumped, unrolled, right = (_new_run(engine) for _ in range(3))
    for run_id in (jumped, unrolled, right):
        _ingest(engine, run_id, [("loss", s, float(s)) for s in range(10)])
        _ingest(engine, run_id, [("loss", 70_000, -1.0)])
    expected = {run_id: _table_of(engine, run_id) for run_id in (jumped, unrolled, right)}
    r = MetricRollup.__table__.c
    with Session(engine) as session, session.begin():
        session.execute(delete(MetricRollup).where(
            r.run_id == jumped, r.width.between(1_024, 262_144), r.bucket == 0))
        session.execute(update(MetricRollup).where(r.run_id == jumped, r.width == 0)
                        .values(n=1, first_step=70_000, first_value=-1.0))
        session.execute(delete(MetricRollup).where(r.run_id == unrolled))
    with Session(engine) as session, session.begin():
        assert repair_rollups(session.connection()) == 2
    assert {run_id: _table_of(engine, run_id) for run_id in expected} == expected
    with Session(engine) as session, session.begin():
        assert repair_rollups(session.connection()) == 0
