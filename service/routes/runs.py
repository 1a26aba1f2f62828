"""/api/v1/runs: external runs, reading, searching, tagging, cancelling, finishing."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request

from .. import runs
from ..deps import CurrentUser, ReadSession, SettingsDep, WriteSession, scope, small_read
from ..errors import InvalidInput
from ..schemas.runs import AttemptList, RunCreate, RunFinish, RunOut, RunPage, RunPatch
from .views import attempt_view, read_run_view, run_view, run_views

router = APIRouter(prefix="/api/v1/runs", tags=["runs"], dependencies=[scope()])


@router.post("", status_code=201, response_model=RunOut)
def create_run(body: RunCreate, session: WriteSession, user: CurrentUser) -> RunOut:
    """Create an external run (state ``running``) to log metrics to from elsewhere."""
    run = runs.create_external(session, user, body.project, body.name, body.config, body.tags,
                               body.notes, body.experiment)
    session.commit()
    return run_view(session, run)


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
    page, token = runs.search(session, user, filter, order_by, project, experiment, limit,
                              page_token)
    return RunPage(runs=run_views(session, page), next_page_token=token)


@router.get("/{run_id}", response_model=RunOut)
async def get_run(run_id: str, request: Request, user: CurrentUser) -> RunOut:
    return await small_read(request, lambda conn: read_run_view(conn, user, run_id))


@router.get("/{run_id}/attempts", response_model=AttemptList)
def get_attempts(run_id: str, session: ReadSession, user: CurrentUser) -> AttemptList:
    """Every lease of the run by a worker, oldest first, with how each ended."""
    return AttemptList(attempts=[attempt_view(a) for a in runs.attempts(session, user, run_id)])


@router.patch("/{run_id}", response_model=RunOut)
def patch_run(run_id: str, body: RunPatch, session: WriteSession, user: CurrentUser) -> RunOut:
    """Change a run's tags, notes or name."""
    run = runs.change(session, user, run_id, tags=body.tags, notes=body.notes, name=body.name)
    session.commit()
    return run_view(session, run)


@router.post("/{run_id}/cancel", response_model=RunOut)
def cancel_run(run_id: str, session: WriteSession, user: CurrentUser) -> RunOut:
    """Cancel a queued or running run (a running run's worker stops at its next heartbeat);
    409 if it has already ended."""
    run = runs.cancel(session, user, run_id)
    session.commit()
    return run_view(session, run)


@router.post("/{run_id}/finish", response_model=RunOut)
def finish_run(run_id: str, body: RunFinish, session: WriteSession,
               user: CurrentUser) -> RunOut:
    """Finish an external run; 409 if it is not a running external run."""
    run = runs.finish_external(session, user, run_id, body.status, body.error, body.summary)
    session.commit()
    return run_view(session, run)
