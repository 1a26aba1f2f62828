"""Run actions: create (external), cancel, finish (external), change; reading one run and its
attempts. Every read is confined to the caller's projects; runs of deleted experiments do not
exist."""

from __future__ import annotations

import functools
from typing import Any, Sequence

from sqlalchemy import Connection, Row, Select, bindparam, select
from sqlalchemy.orm import Session, joinedload, lazyload

from . import audit
from .queue import leases
from .auth.principal import Principal
from .errors import Conflict, NotFound
from .experiments.named import experiment_named
from .models import Run, RunAttempt, RunStatus, RunTag, utcnow
from .projects import visible_project, writable_project
from .query import RunQuery


@functools.cache
def _get_run(for_update: bool) -> Select:
    """The statement ``get_run`` runs, built once per kind (a bind parameter for the id)."""
    stmt = select(Run).where(Run.id == bindparam("run_id"), Run.deleted_at.is_(None))
    if for_update:
        return stmt.with_for_update().options(lazyload(Run.tags))
    return stmt.options(joinedload(Run.tags))  # one row: its tags in the same query


def get_run(session: Session, user: Principal, run_id: str, min_role: str = "viewer",
            for_update: bool = False) -> Run:
    """The run if ``user`` may see it (404 otherwise, exactly as for a run that does not
    exist; runs of deleted experiments do not exist) and has ``min_role`` in its project. A run
    locked ``for_update`` loads its tags only if they are asked for (a write seldom does)."""
    run = session.scalars(_get_run(for_update), {"run_id": run_id}).unique().first()
    what = f"run {run_id!r}"
    if run is None:
        raise NotFound(f"{what} not found")
    user.check(run.project_id, "viewer", what)
    if min_role != "viewer":
        user.check(run.project_id, min_role, what)
    return run


_RUN = Run.__table__.c
_READ_RUN = select(Run.__table__).where(_RUN.id == bindparam("run_id"), _RUN.deleted_at.is_(None))
_READ_TAGS = (select(RunTag.__table__.c.tag).where(RunTag.__table__.c.run_id == bindparam("run_id"))
              .order_by(RunTag.__table__.c.tag))


def read_run(conn: Connection, user: Principal, run_id: str) -> tuple[Row, list[str]]:
    """The run's row and its tags, as ``get_run`` finds and confines it, read by two prebuilt
    Core statements (no ORM objects: for views of one run)."""
    row = conn.execute(_READ_RUN, {"run_id": run_id}).first()
    what = f"run {run_id!r}"
    if row is None:
        raise NotFound(f"{what} not found")
    user.check(row.project_id, "viewer", what)
    return row, list(conn.scalars(_READ_TAGS, {"run_id": run_id}))


def search(session: Session, user: Principal, filter_text: str | None, order_by: str | None,
           project: str | None, experiment_id: str | None, limit: int,
           page_token: str | None) -> tuple[list[Run], str | None]:
    """One page of the runs the caller may see that match the query language's filter, in its
    order, and the next page's token; QueryError names what the client got wrong."""
    conditions = []
    if project is not None:
        conditions.append(Run.project_id == visible_project(session, user, project).id)
    if experiment_id is not None:
        conditions.append(Run.experiment_id == experiment_id)
    query = RunQuery.parse(filter_text, order_by, dialect=session.get_bind().dialect.name)
    return page_of(session, user, query, conditions, limit, page_token)


def page_of(session: Session, user: Principal, query: RunQuery, conditions: list,
            limit: int, page_token: str | None) -> tuple[list[Run], str | None]:
    """One page of the runs the caller may see that meet ``conditions`` (SQL) and ``query``,
    in its order, and the next page's token."""
    base = select(Run).where(user.where(Run.project_id), Run.deleted_at.is_(None), *conditions)
    return query.page(session.execute(query.select(base, page_token, limit)).all(), limit)


def require_visible(session: Session, user: Principal, run_ids: list[str]) -> None:
    """NotFound naming the first of ``run_ids`` the caller cannot see (or that is missing)."""
    found = set(session.scalars(select(Run.id).where(
        Run.id.in_(run_ids), user.where(Run.project_id), Run.deleted_at.is_(None))))
    missing = [r for r in run_ids if r not in found]
    if missing:
        raise NotFound(f"run {missing[0]!r} not found")


def create_external(session: Session, user: Principal, project: str, name: str,
                    config: dict[str, Any], tags: list[str], notes: str,
                    experiment: str | None = None, experiment_id: str | None = None) -> Run:
    """A run trained elsewhere: it starts ``running`` and is never queued. It is filed under
    the project's logged experiment named ``experiment`` (made if missing; the SDK), or under
    ``experiment_id``, an experiment of that project the caller checked (MLflow clients)."""
    now, pid = utcnow(), writable_project(session, user, project)
    if experiment is not None:
        experiment_id = experiment_named(session, user, pid, experiment).id
    run = Run(project_id=pid, name=name, experiment_id=experiment_id,
              status=RunStatus.running.value, external=True, config=config, notes=notes,
              created_at=now, started_at=now, tags=[RunTag(tag=t) for t in sorted(set(tags))])
    session.add(run)
    return run


def cancel(session: Session, user: Principal, run_id: str) -> Run:
    """A user's cancel: queued → cancelled at once; running → cancelled (its worker stops at
    its next heartbeat); a finished run cannot be cancelled (409)."""
    run = get_run(session, user, run_id, "member", for_update=True)
    if RunStatus(run.status).finished:
        raise Conflict(f"run {run_id!r} already ended as {run.status}")
    leases.cancel(session, run, utcnow())
    leases.ended(session, run)
    audit.record(session, user, "run.cancel", run.project_id, run.id)
    return run


def log_external_metrics(session: Session, user: Principal, run_id: str, points: Sequence,
                         max_batch: int) -> tuple[int, bool]:
    """Points logged to an external run (it must be running): how many were new, and whether
    its search's pruner stopped the run on them."""
    run = get_run(session, user, run_id, "member", for_update=True)
    if run.status != RunStatus.running.value:
        raise Conflict(f"run {run_id!r} is {run.status}; metrics are logged to running runs")
    return leases.report(session, run, points, max_batch)


def finish_external(session: Session, user: Principal, run_id: str, status: str,
                    error: str | None, summary: dict[str, Any] | None) -> Run:
    """Finish an external run (running → succeeded | failed | diverged)."""
    run = get_run(session, user, run_id, "member", for_update=True)
    if not run.external:
        raise Conflict(f"run {run_id!r} is run by optrack's workers; only external runs are "
                       f"finished over this route")
    if run.status != RunStatus.running.value:
        raise Conflict(f"run {run_id!r} is {run.status}, not running")
    run.status = status  # running -> succeeded | failed | diverged
    run.error, run.summary, run.finished_at = error, summary, utcnow()
    leases.ended(session, run)
    return run


def change(session: Session, user: Principal, run_id: str, tags: list[str] | None = None,
           notes: str | None = None, name: str | None = None) -> Run:
    """Set whichever of the run's tags, notes and name are given."""
    run = get_run(session, user, run_id, "member", for_update=True)
    if tags is not None:
        run.tags = [RunTag(tag=t) for t in sorted(set(tags))]
    if notes is not None:
        run.notes = notes
    if name is not None:
        run.name = name
    return run


def attempts(session: Session, user: Principal, run_id: str) -> list[RunAttempt]:
    """The run's attempts (leases by workers), oldest first; NotFound for an unknown run."""
    get_run(session, user, run_id)
    return list(session.scalars(select(RunAttempt).where(RunAttempt.run_id == run_id)
                                .order_by(RunAttempt.attempt)))
