"""The durable run queue, in the service's database.

State transitions, each written where it happens:
    queued  -> running     lease_next: one statement claims the oldest run of the highest
                           priority (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite: under the
                           BEGIN IMMEDIATE write lock), attempt = attempt + 1
    running -> queued      rescue_expired (lease ran out, attempts left), release (SIGTERM),
                           finish(failed) with attempts left (after an exponential backoff)
    running -> failed      rescue_expired / finish(failed) with no attempts left
    running -> succeeded | diverged   finish
    queued | running -> cancelled     runs.cancel (a user)
Every worker call names (run id, attempt) and gets 409 (LeaseLost) when that attempt no
longer holds the lease.
"""

from __future__ import annotations

import random
import asyncio
import threading
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from .errors import Conflict, NotFound
from .models import Run, RunAttempt, RunStatus, utcnow
from .settings import Settings

COUNTED_OUTCOMES = ("failed", "expired")  # outcomes that use up one of max_attempts


class QueueSignal:
    """Wakes the lease calls waiting in this process when runs become available. ``notify``
    may be called from any thread; ``wait`` is awaited on the event loop. A waiter passes the
    ``generation`` it saw before looking for work, so a notification in between is not lost."""

    def __init__(self):
        self.generation = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self._lock = threading.Lock()

    async def wait(self, seen: int, timeout: float) -> None:
        with self._lock:
            if self.generation != seen:
                return
            if self._event is None:
                self._loop, self._event = asyncio.get_running_loop(), asyncio.Event()
            event = self._event
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    def notify(self) -> None:
        with self._lock:
            self.generation += 1
            loop, event = self._loop, self._event
            self._event = None  # later waiters wait for the next notification
        if loop is not None and event is not None:
            loop.call_soon_threadsafe(event.set)


class LeaseLost(Conflict):
    """This attempt no longer holds the run's lease: the worker must drop the run."""


def lease_next(session: Session, worker_id: str, settings: Settings, worker) -> Run | None:
    """Claim for ``worker_id`` the next runnable queued run of the projects where the worker
    token (``worker``, a Principal) may write; None if there is none."""
    now = utcnow()
    rescue_expired(session, settings, now)
    candidate = (select(Run.id)
                 .where(Run.status == RunStatus.queued.value, Run.external.is_(False),
                        (Run.not_before.is_(None)) | (Run.not_before <= now),
                        Run.deleted_at.is_(None), worker.where(Run.project_id, "member"))
                 .order_by(Run.priority.desc(), Run.created_at, Run.id)
                 .limit(1).with_for_update(skip_locked=True).scalar_subquery())
    run_id = session.scalar(
        update(Run).where(Run.id == candidate, Run.status == RunStatus.queued.value)
        .values(status=RunStatus.running.value, attempt=Run.attempt + 1, worker_id=worker_id,
                lease_token_id=worker.token_id, lease_expires_at=now + timedelta(seconds=settings.lease_seconds),
                started_at=func.coalesce(Run.started_at, now), not_before=None)
        .returning(Run.id))  # queued -> running
    if run_id is None:
        return None
    run = session.get(Run, run_id, populate_existing=True)
    session.add(RunAttempt(run_id=run.id, attempt=run.attempt, worker_id=worker_id,
                           started_at=now))
    return run


def rescue_expired(session: Session, settings: Settings, now: datetime | None = None) -> int:
    """Return runs whose lease ran out to the queue, or fail them when out of attempts."""
    now = now or utcnow()
    expired = session.scalars(
        select(Run).where(Run.status == RunStatus.running.value, Run.external.is_(False),
                          Run.lease_expires_at < now)
        .with_for_update(skip_locked=True)).all()
    for run in expired:
        end_attempt(session, run, "expired", "the worker stopped heartbeating", now)
        _requeue_or_fail(session, run, settings, now, "lease expired")
    return len(expired)


def holding(session: Session, run_id: str, attempt: int, worker,
            allow_cancelled: bool = False) -> Run:
    """The run, locked, if ``attempt`` of this worker token still holds its lease; LeaseLost
    otherwise, or NotFound when there is no such run in a project the token can see."""
    run = session.scalar(select(Run).where(Run.id == run_id).with_for_update())
    if run is None or worker.role(run.project_id) is None:  # the same answer for both
        raise NotFound(f"run {run_id!r} not found")
    if run is not None and run.lease_token_id != worker.token_id:
        raise LeaseLost(f"run {run_id!r} is not leased with this token")
    statuses = {RunStatus.running.value} | ({RunStatus.cancelled.value} if allow_cancelled
                                            else set())
    if run is None or run.external or run.attempt != attempt or run.status not in statuses:
        state = "unknown" if run is None else f"{run.status}, attempt {run.attempt}"
        raise LeaseLost(f"run {run_id!r} attempt {attempt} no longer holds the lease ({state})")
    return run


def heartbeat(session: Session, run_id: str, attempt: int, settings: Settings, worker) -> bool:
    """Extend the lease; True when the run was cancelled (the worker should stop)."""
    run = holding(session, run_id, attempt, worker, allow_cancelled=True)
    if run.status == RunStatus.cancelled.value:
        end_attempt(session, run, "cancelled", None, utcnow())
        return True
    run.lease_expires_at = utcnow() + timedelta(seconds=settings.lease_seconds)
    return False


def finish(session: Session, run_id: str, attempt: int, status: str, settings: Settings,
           worker, summary: dict | None = None, error: str | None = None) -> Run:
    """The worker's verdict: succeeded or diverged end the run; failed retries it (with
    backoff) while attempts are left."""
    run = holding(session, run_id, attempt, worker)
    now = utcnow()
    end_attempt(session, run, status, error, now)
    run.summary, run.error = summary, error
    if status == "failed":
        _requeue_or_fail(session, run, settings, now, "failed", backoff=True)
    else:
        run.status = status  # running -> succeeded | diverged
        run.finished_at, run.worker_id, run.lease_expires_at = now, None, None
    return run


def release(session: Session, run_id: str, attempt: int, worker) -> Run:
    """A worker shutting down hands the run back at once (running -> queued); it keeps its
    checkpoint and does not use up an attempt."""
    run = holding(session, run_id, attempt, worker)
    end_attempt(session, run, "released", None, utcnow())
    run.status, run.worker_id, run.lease_expires_at = RunStatus.queued.value, None, None
    return run


def _requeue_or_fail(session: Session, run: Run, settings: Settings, now: datetime,
                     why: str, backoff: bool = False) -> None:
    used = session.scalar(select(func.count()).select_from(RunAttempt).where(
        RunAttempt.run_id == run.id, RunAttempt.outcome.in_(COUNTED_OUTCOMES)))
    run.worker_id, run.lease_expires_at = None, None
    if used >= settings.max_attempts:
        run.status = RunStatus.failed.value  # running -> failed
        run.finished_at = now
        history = session.scalars(select(RunAttempt).where(RunAttempt.run_id == run.id)
                                  .order_by(RunAttempt.attempt)).all()
        run.error = (run.error or why) + "\n\nattempts:\n" + "\n".join(
            f"  {a.attempt}: {a.outcome} on {a.worker_id}" + (f" — {a.error}" if a.error else "")
            for a in history)
        return
    run.status = RunStatus.queued.value  # running -> queued
    if backoff:
        delay = settings.retry_backoff_seconds * 2 ** (used - 1) * random.uniform(0.5, 1.5)
        run.not_before = now + timedelta(seconds=delay)


def end_attempt(session: Session, run: Run, outcome: str, error: str | None,
                now: datetime) -> None:
    """Record how the run's current attempt ended (once)."""
    row = session.get(RunAttempt, (run.id, run.attempt))
    if row is not None and row.ended_at is None:
        row.ended_at, row.outcome, row.error = now, outcome, error
