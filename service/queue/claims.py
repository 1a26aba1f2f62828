"""Claiming runs for workers: ``lease_next`` (queued -> running, by one prebuilt statement),
``held_by`` (the run a worker already holds, given again when it lost the answer), and the
rescue of expired leases (running -> queued, or failed when out of attempts), looked for at
most a few times per lease period. The fenced calls of the attempt that holds a lease are in
leases.py, whose docstring draws the whole state machine."""

from __future__ import annotations

import functools
import time
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session, lazyload

from ..models import AttemptOutcome, Run, RunAttempt, RunStatus, utcnow
from ..ops import instruments
from ..settings import Settings
from . import leases


def lease_next(session: Session, worker_id: str, settings: Settings, worker) -> Run | None:
    """Claim for ``worker_id`` the next runnable queued run of the projects where the worker
    token (``worker``, a Principal) may write; None if there is none."""
    now = utcnow()
    if _rescue_due(session, settings):
        rescue_expired(session, settings, now)
    projects = worker.projects("member")  # None: every project
    if projects == []:
        return None
    session.flush()  # the claim below runs on the connection, past the session
    run_id = session.connection().execute(_claim(projects is not None), {
        "now": now, "expires": now + timedelta(seconds=settings.lease_seconds),
        "w_id": worker_id, "tok": worker.token_id,
        **({"projects": projects} if projects is not None else {})}).scalar()
    if run_id is None:
        return None
    run = session.get(Run, run_id, populate_existing=True, options=[lazyload(Run.tags)])
    instruments.leased(session, run, now)
    session.add(RunAttempt(run_id=run.id, attempt=run.attempt, worker_id=worker_id,
                           started_at=now))
    return run


def held_by(session: Session, worker_id: str, settings: Settings, worker) -> Run | None:
    """The run ``worker_id`` already holds with this token, its lease extended: a worker asks
    for a lease only when it holds none, so it lost the answer that leased it this one (a
    timeout, a dropped connection). It gets the same attempt again, rather than a second run
    while the first waits out its lease and loses an attempt. None when it holds none (a
    lease that ran out is not given again: it goes the way of every expired lease)."""
    now = utcnow()
    run = session.scalar(_HELD, {"w_id": worker_id, "tok": worker.token_id, "now": now})
    if run is not None:
        run.lease_expires_at = now + timedelta(seconds=settings.lease_seconds)
    return run


_HELD = (select(Run).where(Run.status == RunStatus.running.value, Run.external.is_(False),
                           Run.worker_id == bindparam("w_id"),
                           Run.lease_token_id == bindparam("tok"),
                           Run.lease_expires_at >= bindparam("now",
                                                             type_=Run.lease_expires_at.type))
         .order_by(Run.started_at).limit(1).with_for_update().options(lazyload(Run.tags)))


@functools.cache
def _claim(limited: bool):
    """The claim lease_next runs — queued -> running, attempt + 1, for the oldest runnable run
    of the highest priority — built once per shape (``limited``: to the token's ``projects``):
    building it anew took a third of an empty lease call. Parameters: now, expires, w_id, tok
    (and projects)."""
    t = Run.__table__.c
    when = bindparam("now", type_=t.not_before.type)
    scope = [t.project_id.in_(bindparam("projects", expanding=True))] if limited else []
    candidate = (select(t.id)
                 .where(t.status == RunStatus.queued.value, t.external.is_(False),
                        t.not_before.is_(None) | (t.not_before <= when), t.deleted_at.is_(None),
                        *scope)
                 .order_by(t.priority.desc(), t.created_at, t.id)
                 .limit(1).with_for_update(skip_locked=True).scalar_subquery())
    return (update(Run.__table__).where(t.id == candidate, t.status == RunStatus.queued.value)
            .values(status=RunStatus.running.value, attempt=t.attempt + 1,
                    worker_id=bindparam("w_id"), lease_token_id=bindparam("tok"),
                    lease_expires_at=bindparam("expires", type_=t.lease_expires_at.type),
                    started_at=func.coalesce(t.started_at, when), not_before=None)
            .returning(t.id))


# the database (its engine) → monotonic time of this process's last committed look
_last_rescue: dict[int, float] = {}


def _rescue_due(session: Session, settings: Settings) -> bool:
    """Whether this lease call looks for expired leases: at most a few times per lease
    period per API process and database (every idle worker's long poll leases, and the look
    is seldom fruitful), so an expired run waits at most a quarter of a lease (and a second)
    longer. A look counts once its transaction commits."""
    key, now = id(session.get_bind()), time.monotonic()
    if now - _last_rescue.get(key, float("-inf")) < min(settings.lease_seconds / 4, 1.0):
        return False
    instruments.on_commit(session, lambda: _last_rescue.__setitem__(key, now))
    return True


def rescue_expired(session: Session, settings: Settings, now: datetime | None = None) -> int:
    """Return runs whose lease ran out to the queue, or fail them when out of attempts."""
    now = now or utcnow()
    expired = session.scalars(
        select(Run).where(Run.status == RunStatus.running.value, Run.external.is_(False),
                          Run.lease_expires_at < now)
        .with_for_update(skip_locked=True)).all()
    for run in expired:
        leases.end_attempt(session, run, AttemptOutcome.expired, "the worker stopped heartbeating",
                    now)
        leases.requeue_or_fail(session, run, settings, now, "lease expired")
    return len(expired)
