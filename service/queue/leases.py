"""Leases: the durable run queue's state changes, in the service's database.

State transitions, each written where it happens:
    queued  -> running     claims.lease_next: one statement claims the oldest run of the
                           highest priority (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite: under
                           the BEGIN IMMEDIATE write lock), attempt = attempt + 1
    running -> queued      claims.rescue_expired (lease ran out, attempts left), release
                           (SIGTERM), finish(failed) with attempts left (after a backoff)
    running -> failed      claims.rescue_expired / finish(failed) with no attempts left
    running -> succeeded | diverged   finish
    running -> pruned      report: the search's pruner stops the run (worker or external)
    queued | running -> cancelled     cancel: a user's cancel (runs.cancel) and the deletion
                                      of the experiment (experiments.lifecycle.soft_delete)
When a trial of an adaptive search ends, ``ended`` queues its successors (search/schedule.top_up)
in the same transaction.
Every worker call names (run id, attempt) and gets 409 (LeaseLost) when that attempt no
longer holds the lease, or 404 when the run is not there for the worker's token (never
existed, purged, or another project's): to the worker both mean the lease is lost (except
on the checkpoint download, where a 404 means the blob is missing).
How each attempt ended is an ``AttemptOutcome``, recorded once by ``end_attempt``.
"""

from __future__ import annotations

import functools
import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Sequence

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session, lazyload

from ..auth.principal import Principal
from ..datasets import records
from ..errors import Conflict, NotFound
from ..models import AttemptOutcome, Run, RunAttempt, RunStatus, utcnow
from ..settings import Settings
from ..search import pruning, schedule, trials
from ..tracking import ingest
from . import checkpoints

# states a running run is stopped in while its worker still holds the lease: the worker learns
# at its next heartbeat (the attempt's outcome was recorded when the run was stopped)
STOPPED = (RunStatus.cancelled.value, RunStatus.pruned.value)
# the outcomes that use up one of max_attempts
COUNTED_OUTCOMES = (AttemptOutcome.failed.value, AttemptOutcome.expired.value)


class LeaseLost(Conflict):
    """This attempt no longer holds the run's lease: the worker must drop the run."""


@functools.cache
def _holding(lock: bool) -> Select:
    """The statement ``holding`` runs at every call of a worker, built once per kind."""
    stmt = select(Run).where(Run.id == bindparam("run_id")).options(lazyload(Run.tags))
    return stmt.with_for_update() if lock else stmt  # (the tags are seldom wanted)


def holding(session: Session, run_id: str, attempt: int, worker,
            allow_stopped: bool = False, lock: bool = True) -> Run:
    """The run, locked (unless not ``lock``: a read), if ``attempt`` of this worker token still
    holds its lease; LeaseLost otherwise, or NotFound when there is no such run in a project
    the token can see."""
    run = session.scalar(_holding(lock), {"run_id": run_id})
    if run is None or worker.role(run.project_id) is None:  # the same answer for both
        raise NotFound(f"run {run_id!r} not found")
    if run.lease_token_id != worker.token_id:
        raise LeaseLost(f"run {run_id!r} is not leased with this token")
    statuses = {RunStatus.running.value, *(STOPPED if allow_stopped else ())}
    if run.external or run.attempt != attempt or run.status not in statuses:
        raise LeaseLost(f"run {run_id!r} attempt {attempt} no longer holds the lease "
                        f"({run.status}, attempt {run.attempt})")
    return run


def heartbeat(session: Session, run_id: str, attempt: int, settings: Settings,
              worker) -> str | None:
    """Extend the lease; or why the worker must stop: "cancelled" or "pruned"."""
    run = holding(session, run_id, attempt, worker, allow_stopped=True)
    if run.status in STOPPED:
        return run.status
    run.lease_expires_at = utcnow() + timedelta(seconds=settings.lease_seconds)
    return None


def finish(session: Session, run_id: str, attempt: int, status: str, settings: Settings,
           worker, summary: dict | None = None, error: str | None = None,
           points: Sequence = ()) -> Run:
    """The worker's verdict: succeeded or diverged end the run; failed retries it (with
    backoff) while attempts are left. ``points``: its last metrics, stored first."""
    run = holding(session, run_id, attempt, worker)
    if points:
        ingest.ingest(session, run.id, points, settings.max_metric_batch)
    now = utcnow()
    end_attempt(session, run, AttemptOutcome(status), error, now)
    run.summary, run.error = summary, error
    if status == "failed":
        requeue_or_fail(session, run, settings, now, "failed", backoff=True)
    else:
        run.status = status  # running -> succeeded | diverged
        run.finished_at, run.worker_id, run.lease_expires_at = now, None, None
        ended(session, run)
    return run


def handed_over(session: Session, run_id: str, attempt: int, status: str, worker,
                worker_id: str) -> tuple[str, Run | None] | None:
    """A ``finish`` that asked for the next run, sent again because its answer was lost (the
    client retries): the finished run's status and the run that finish leased ``worker_id``
    (None if it found none queued), so the worker gets the lease it would otherwise strand
    until it expired. None if this is not such a replay: attempt ``attempt`` is not the run's
    last, did not end ``status``, or was another token's."""
    run = session.get(Run, run_id)
    ended = session.get(RunAttempt, (run_id, attempt))
    if (run is None or worker.role(run.project_id) is None or run.attempt != attempt
            or run.lease_token_id != worker.token_id or ended is None
            or ended.outcome != status or ended.ended_at is None):
        return None
    current = (RunAttempt.run_id == Run.id) & (RunAttempt.attempt == Run.attempt)
    leased = session.scalar(
        select(Run).join(RunAttempt, current).options(lazyload(Run.tags))
        .where(Run.status == RunStatus.running.value, Run.worker_id == worker_id,
               Run.lease_token_id == worker.token_id, RunAttempt.worker_id == worker_id,
               RunAttempt.ended_at.is_(None), RunAttempt.started_at >= ended.ended_at)
        .order_by(RunAttempt.started_at).limit(1))
    return run.status, leased


def release(session: Session, run_id: str, attempt: int, worker) -> Run:
    """A worker shutting down hands the run back at once (running -> queued); it keeps its
    checkpoint and does not use up an attempt."""
    run = holding(session, run_id, attempt, worker)
    end_attempt(session, run, AttemptOutcome.released, None, utcnow())
    run.status, run.worker_id, run.lease_expires_at = RunStatus.queued.value, None, None
    return run


def cancel(session: Session, run: Run, now: datetime) -> None:
    """queued | running -> cancelled: the one way a run is cancelled. A running run's attempt
    ends as cancelled (its worker stops at its next heartbeat); the caller checked that the run
    has not ended, and decides whether its search goes on (``ended``)."""
    _stop(session, run, RunStatus.cancelled, AttemptOutcome.cancelled, now)


def report(session: Session, run: Run, points: Sequence, max_batch: int) -> tuple[int, bool]:
    """Store a running run's metrics; running -> pruned when its search's pruner says so at one
    of their evaluations, and the search goes on with the next trials. How many points were
    new, and whether the run was pruned."""
    before = pruning.reported_before(session, run)
    inserted = ingest.ingest(session, run.id, points, max_batch)
    if not pruning.judge(session, run, {p.key for p in points}, before):
        return inserted, False
    _stop(session, run, RunStatus.pruned, AttemptOutcome.pruned, utcnow())
    ended(session, run)
    return inserted, True


def judged_metric(session: Session, run: Run) -> str | None:
    """The metric whose reports the run's search prunes on (None: nothing prunes the run)."""
    spec = trials.spec_for(session, run.experiment_id)
    if spec is None or not spec.prunes or trials.is_final(session, run.id):
        return None
    return spec.objective.metric


def _stop(session: Session, run: Run, status: RunStatus, outcome: AttemptOutcome,
          now: datetime) -> None:
    if run.status == RunStatus.running.value and not run.external:
        end_attempt(session, run, outcome, None, now)
    run.status = status.value  # queued | running -> cancelled | pruned
    run.finished_at, run.worker_id, run.lease_expires_at = now, None, None


def ended(session: Session, run: Run) -> None:
    """A run reached its final state: a trial's search queues its successors."""
    schedule.trial_ended(session, run)


def requeue_or_fail(session: Session, run: Run, settings: Settings, now: datetime,
                    why: str, backoff: bool = False) -> None:
    """A running run whose attempt ended without a verdict (failed, or its lease expired):
    queued again while attempts are left (after a backoff if asked), else failed."""
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
        ended(session, run)
        return
    run.status = RunStatus.queued.value  # running -> queued
    if backoff:
        delay = settings.retry_backoff_seconds * 2 ** (used - 1) * random.uniform(0.5, 1.5)
        run.not_before = now + timedelta(seconds=delay)


def end_attempt(session: Session, run: Run, outcome: AttemptOutcome, error: str | None,
                now: datetime) -> None:
    """Record how the run's current attempt ended (once)."""
    row = session.get(RunAttempt, (run.id, run.attempt))
    if row is not None and row.ended_at is None:
        row.ended_at, row.outcome, row.error = now, outcome.value, error


# -- the calls of the attempt holding the lease, fenced by (run id, attempt) ------------------

def record_metrics(session: Session, run_id: str, attempt: int, worker: Principal,
                   points: Sequence, max_batch: int) -> tuple[int, bool]:
    """Metrics of the attempt holding the lease; replayed points are ignored. How many were
    new, and whether the search's pruner stopped the run on them."""
    return report(session, holding(session, run_id, attempt, worker), points, max_batch)


def store_checkpoint(session: Session, run_id: str, attempt: int, worker: Principal,
                     data: bytes, step: int, settings: Settings) -> str:
    """The attempt's latest checkpoint blob; its sha256."""
    run = holding(session, run_id, attempt, worker)
    return checkpoints.store(session, run, data, step, settings.data_dir,
                             settings.max_checkpoint_bytes)


def load_checkpoint(session: Session, run_id: str, attempt: int, worker: Principal,
                    data_dir: Path) -> bytes:
    """The run's latest checkpoint, for the attempt that resumes it (NotFound if the blob is
    missing: the worker must not mistake that for a lost lease)."""
    return checkpoints.load(holding(session, run_id, attempt, worker), data_dir)


def dataset_file(session: Session, run_id: str, attempt: int, worker: Principal,
                 data_dir: Path) -> Path:
    """The pushed dataset file the attempt holding the run trains on (NotFound when the run
    names none, or its file is missing: as for a checkpoint, not a lost lease)."""
    run = holding(session, run_id, attempt, worker, lock=False)
    return records.run_blob(session, run, data_dir)
