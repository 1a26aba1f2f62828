"""/api/v1/runs: external runs, reading, searching, tagging, cancelling, finishing."""

from __future__ import annotations

from fastapi import APIRouter, Query
from sqlalchemy import select

from .. import runs as run_actions
from ..auth import CurrentUser, scope
from ..deps import ReadSession, SettingsDep, WriteSession
from ..errors import InvalidInput, NotFound
from ..models import Run
from ..projects import project_id
from ..query import QueryError, RunQuery
from ..schemas import AttemptList, RunCreate, RunFinish, RunOut, RunPage, RunPatch

router = APIRouter(prefix="/api/v1/runs", tags=["runs"], dependencies=[scope()])


@router.post("", status_code=201, response_model=RunOut)
def create_run(body: RunCreate, session: WriteSession, user: CurrentUser) -> RunOut:
    """Create an external run (state ``running``) to log metrics to from elsewhere."""
    run = run_actions.create_external(session, user, body)
    session.commit()
    return run_actions.views(session, [run])[0]


@router.get("", response_model=RunPage)
def list_runs(session: ReadSession, settings: SettingsDep, user: CurrentUser,
              filter: str | None = Query(None, max_length=4000,
                                         description="e.g. optimizer = 'adam' and lr < 0.01"),
              order_by: str | None = Query(None, max_length=1000,
                                           description="e.g. metrics.val_accuracy desc"),
              project: str | None = Query(None, max_length=100),
              experiment: str | None = Query(None, max_length=64,
                                             description="only this experiment's runs"),
              limit: int = Query(50, ge=1),
              page_token: str | None = Query(None, max_length=4000)) -> RunPage:
    """Search runs with the query language; cursor-paginated."""
    if limit > settings.max_page_size:
        raise InvalidInput.field("limit", f"must be <= {settings.max_page_size}")
    base = select(Run).where(user.where(Run.project_id), Run.deleted_at.is_(None))
    if project is not None:
        pid = project_id(session, project)
        if pid is None or user.role(pid) is None:
            raise NotFound(f"project {project!r} not found")
        base = base.where(Run.project_id == pid)
    if experiment is not None:
        base = base.where(Run.experiment_id == experiment)
    try:
        query = RunQuery.parse(filter, order_by, dialect=session.get_bind().dialect.name)
        stmt = query.select(base, page_token=page_token, limit=limit)
    except QueryError as exc:
        raise InvalidInput(str(exc), [exc.detail()]) from None
    rows = session.execute(stmt).all()
    runs, token = query.page(rows, limit)
    return RunPage(runs=run_actions.views(session, runs), next_page_token=token)


@router.get("/{run_id}", response_model=RunOut)
def get_run(run_id: str, session: ReadSession, user: CurrentUser) -> RunOut:
    return run_actions.views(session, [run_actions.get_run(session, user, run_id)])[0]


@router.get("/{run_id}/attempts", response_model=AttemptList)
def get_attempts(run_id: str, session: ReadSession, user: CurrentUser) -> AttemptList:
    """Every lease of the run by a worker, oldest first, with how each ended."""
    return AttemptList(attempts=run_actions.attempts(session, user, run_id))


@router.patch("/{run_id}", response_model=RunOut)
def patch_run(run_id: str, body: RunPatch, session: WriteSession, user: CurrentUser) -> RunOut:
    """Change a run's tags, notes or name."""
    run = run_actions.patch(session, user, run_id, body)
    session.commit()
    return run_actions.views(session, [run])[0]


@router.post("/{run_id}/cancel", response_model=RunOut)
def cancel_run(run_id: str, session: WriteSession, user: CurrentUser) -> RunOut:
    run = run_actions.cancel(session, user, run_id)
    session.commit()
    return run_actions.views(session, [run])[0]


@router.post("/{run_id}/finish", response_model=RunOut)
def finish_run(run_id: str, body: RunFinish, session: WriteSession,
               user: CurrentUser) -> RunOut:
    """Finish an external run; 409 if it is not a running external run."""
    run = run_actions.finish(session, user, run_id, body)
    session.commit()
    return run_actions.views(session, [run])[0]
