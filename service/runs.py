"""Run actions: create (external), cancel, finish, patch; and their API views."""

from __future__ import annotations

from typing import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import audit, metrics_store, queue
from .auth import Principal
from .errors import Conflict, NotFound
from .models import Run, RunAttempt, RunStatus, RunTag, utcnow
from .projects import project_names, writable_project
from .schemas import AttemptOut, RunCreate, RunFinish, RunOut, RunPatch, encode_value


def get_run(session: Session, user: Principal, run_id: str, min_role: str = "viewer",
            for_update: bool = False) -> Run:
    """The run if ``user`` may see it (404 otherwise, exactly as for a run that does not
    exist; runs of deleted experiments do not exist) and has ``min_role`` in its project."""
    stmt = select(Run).where(Run.id == run_id, Run.deleted_at.is_(None))
    if for_update:
        stmt = stmt.with_for_update()
    run = session.scalar(stmt)
    what = f"run {run_id!r}"
    if run is None:
        raise NotFound(f"{what} not found")
    user.check(run.project_id, "viewer", what)
    if min_role != "viewer":
        user.check(run.project_id, min_role, what)
    return run


def create_external(session: Session, user: Principal, body: RunCreate) -> Run:
    """A run trained elsewhere: it starts ``running`` and is never queued."""
    now = utcnow()
    run = Run(project_id=writable_project(session, user, body.project), name=body.name,
              status=RunStatus.running.value, external=True, config=body.config,
              notes=body.notes, created_at=now, started_at=now,
              tags=[RunTag(tag=t) for t in sorted(set(body.tags))])
    session.add(run)
    return run


def cancel(session: Session, user: Principal, run_id: str) -> Run:
    """queued → cancelled at once; running → cancelled (its worker stops at its next
    heartbeat); a finished run cannot be cancelled (409)."""
    run = get_run(session, user, run_id, "member", for_update=True)
    if RunStatus(run.status).finished:
        raise Conflict(f"run {run_id!r} already ended as {run.status}")
    now = utcnow()
    if run.status == RunStatus.running.value and not run.external:
        queue.end_attempt(session, run, "cancelled", None, now)
    run.status = RunStatus.cancelled.value  # queued|running -> cancelled
    run.finished_at, run.worker_id, run.lease_expires_at = now, None, None
    audit.record(session, user, "run.cancel", run.project_id, run.id)
    return run


def finish(session: Session, user: Principal, run_id: str, body: RunFinish) -> Run:
    """Finish an external run (running → succeeded | failed | diverged)."""
    run = get_run(session, user, run_id, "member", for_update=True)
    if not run.external:
        raise Conflict(f"run {run_id!r} is run by optrack's workers; only external runs are "
                       f"finished over this route")
    if run.status != RunStatus.running.value:
        raise Conflict(f"run {run_id!r} is {run.status}, not running")
    run.status = body.status  # running -> succeeded | failed | diverged
    run.error = body.error
    run.summary = body.summary
    run.finished_at = utcnow()
    return run


def patch(session: Session, user: Principal, run_id: str, body: RunPatch) -> Run:
    run = get_run(session, user, run_id, "member", for_update=True)
    if body.tags is not None:
        run.tags = [RunTag(tag=t) for t in sorted(set(body.tags))]
    if body.notes is not None:
        run.notes = body.notes
    if body.name is not None:
        run.name = body.name
    return run


def attempts(session: Session, user: Principal, run_id: str) -> list[AttemptOut]:
    """The run's attempts (leases by workers), oldest first; NotFound for an unknown run."""
    get_run(session, user, run_id)
    rows = session.scalars(select(RunAttempt).where(RunAttempt.run_id == run_id)
                           .order_by(RunAttempt.attempt))
    return [AttemptOut(attempt=a.attempt, worker_id=a.worker_id, started_at=a.started_at,
                       ended_at=a.ended_at, outcome=a.outcome, error=a.error) for a in rows]


def views(session: Session, runs: Sequence[Run]) -> list[RunOut]:
    """API views of ``runs`` with project names, latest metric values and the highest step
    logged, in three queries whatever the number of runs."""
    names = project_names(session, {r.project_id for r in runs})
    latest = metrics_store.latest_values(session, [r.id for r in runs])
    steps = metrics_store.latest_steps(session, [r.id for r in runs])
    return [RunOut(id=r.id, name=r.name, project=names.get(r.project_id, ""),
                   experiment_id=r.experiment_id, status=r.status, external=r.external,
                   config=r.config, tags=[t.tag for t in r.tags], notes=r.notes,
                   summary=r.summary, error=r.error, attempt=r.attempt,
                   created_at=r.created_at, started_at=r.started_at, finished_at=r.finished_at,
                   metrics={k: encode_value(v) for k, v in latest[r.id].items()},
                   total_steps=r.total_steps, step=steps.get(r.id))
            for r in runs]
