"""/api/v1/experiments: submit, list, inspect, export, delete, restore, purge."""

from __future__ import annotations

from collections import Counter

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from ..deps import CurrentUser, ReadSession, SettingsDep, WriteSession, scope
from ..errors import InvalidInput
from ..experiments import export, lifecycle
from ..experiments.listing import experiment_detail, list_experiments
from ..experiments.submission import ask_trial_run, submit_experiment
from ..queue import checkpoints
from ..schemas.experiments import (ExperimentCreate, ExperimentDetail, ExperimentOut,
                                   ExperimentPage, ImportanceOut, SearchSummary, SummaryRow,
                                   TrialList, TrialOut)
from ..search import analysis
from ..schemas.runs import RunOut
from .views import download, experiment_views, run_view

router = APIRouter(prefix="/api/v1/experiments", tags=["experiments"], dependencies=[scope()])


@router.post("", status_code=201, response_model=ExperimentOut)
def create_experiment(body: ExperimentCreate, request: Request, session: WriteSession,
                      settings: SettingsDep, user: CurrentUser) -> ExperimentOut:
    """Expand the request into runs (grid × random trials), validate every run, store the
    experiment and its runs as ``queued`` — all or nothing. Needs the member role in the
    project."""
    spec = body.model_dump(exclude={"name", "project", "tags"}, exclude_none=True)
    experiment, runs = submit_experiment(session, user, body.name, body.project, body.tags, spec,
                                         settings.max_runs_per_experiment)
    session.commit()
    request.app.state.queue_signal.notify()  # wake workers waiting for a lease
    return ExperimentOut(id=experiment.id, name=experiment.name, project=body.project,
                         tags=experiment.tags, created_at=experiment.created_at,
                         run_ids=[r.id for r in runs],
                         status_counts=dict(Counter(r.status for r in runs)))


@router.get("", response_model=ExperimentPage)
def get_experiments(session: ReadSession, settings: SettingsDep, user: CurrentUser,
                    project: str | None = Query(None, max_length=100),
                    tag: str | None = Query(None, max_length=100),
                    q: str | None = Query(None, max_length=200, description="name contains"),
                    limit: int = Query(50, ge=1),
                    page_token: str | None = Query(None, max_length=200),
                    deleted: bool = Query(False, description="the soft-deleted ones instead "
                                                             "(projects you administer)")
                    ) -> ExperimentPage:
    """Experiments, newest first, with run counts per status."""
    if limit > settings.max_page_size:
        raise InvalidInput.field("limit", f"must be <= {settings.max_page_size}")
    page, token = list_experiments(session, user, project, tag, q, deleted, limit, page_token)
    return ExperimentPage(experiments=experiment_views(session, page), next_page_token=token)


@router.get("/{experiment_id}", response_model=ExperimentDetail)
def get_experiment(experiment_id: str, session: ReadSession,
                   user: CurrentUser) -> ExperimentDetail:
    """The experiment with run counts per status and its summary table."""
    experiment, runs, summary, search, compared = experiment_detail(session, user,
                                                                    experiment_id)
    view = experiment_views(session, [experiment])[0]
    return ExperimentDetail(**view.model_dump(exclude={"run_ids"}), run_ids=[r.id for r in runs],
                            request=experiment.request,
                            summary=[SummaryRow(**row) for row in summary],
                            search=None if search is None else SearchSummary(**search),
                            comparison=compared)


@router.post("/{experiment_id}/trials", status_code=201, response_model=RunOut)
def ask_trial(experiment_id: str, session: WriteSession, user: CurrentUser) -> RunOut:
    """Ask and tell: the next trial of an ask-and-tell search (``"external": true``) as a new
    external run with its sampled config. Log metrics to it (a response with ``pruned`` says
    stop) and finish it; the sampler learns the result. 409 once ``trials`` were asked."""
    run = ask_trial_run(session, user, experiment_id)
    session.commit()
    return run_view(session, run)


@router.get("/{experiment_id}/trials", response_model=TrialList)
def list_trials(experiment_id: str, session: ReadSession, user: CurrentUser) -> TrialList:
    """The adaptive search's trials in order: parameters, status, objective (409 for a grid)."""
    spec, rows = analysis.trial_table(session,
                                      lifecycle.get_experiment(session, user, experiment_id))
    return TrialList(objective={"metric": spec.objective.metric, "mode": spec.objective.mode},
                     trials=[TrialOut(**row) for row in rows])


@router.get("/{experiment_id}/importance", response_model=ImportanceOut)
def parameter_importance(experiment_id: str, session: ReadSession, user: CurrentUser,
                         optimizer: str | None = Query(None, max_length=40,
                                                       description="a comparison's optimizer "
                                                                   "(required there)")
                         ) -> ImportanceOut:
    """How much each searched parameter matters to the objective, once enough trials are
    complete (409 for a grid)."""
    found, complete = analysis.importances(
        session, lifecycle.get_experiment(session, user, experiment_id), optimizer)
    return ImportanceOut(importances=found, complete_trials=complete,
                         needed=analysis.MIN_TRIALS_FOR_IMPORTANCE)


@router.get("/{experiment_id}/export")
def export_experiment(experiment_id: str, request: Request, session: ReadSession,
                      user: CurrentUser,
                      format: str = Query("csv", pattern="^(csv|json)$"),
                      table: str | None = Query(None, pattern="^(runs|comparison)$",
                                                description="runs, or a comparison's result "
                                                            "(its default)")
                      ) -> StreamingResponse:
    """One row per run: flattened config columns and final metrics, streamed. A comparison of
    optimizers exports one row per optimizer (its result) unless ``table=runs``."""
    experiment = lifecycle.get_experiment(session, user, experiment_id)
    compared = (experiment.request.get("search") or {}).get("method") == "compare"
    table = table or ("comparison" if compared else "runs")
    writer = export.export_csv if format == "csv" else export.export_json
    return download(request, lambda own_session: writer(own_session, experiment_id, table),
                    format, f"experiment-{experiment_id}.{format}")


@router.delete("/{experiment_id}", response_model=ExperimentOut)
def delete_experiment(experiment_id: str, session: WriteSession,
                      user: CurrentUser) -> ExperimentOut:
    """Soft delete (project admins): the experiment and its runs disappear from every view,
    its queued and running runs are cancelled; ``restore`` brings it back."""
    experiment = lifecycle.soft_delete(session, user, experiment_id)
    session.commit()
    return experiment_views(session, [experiment])[0]


@router.post("/{experiment_id}/restore", response_model=ExperimentOut)
def restore_experiment(experiment_id: str, session: WriteSession,
                       user: CurrentUser) -> ExperimentOut:
    """Undo a soft delete (project admins)."""
    experiment = lifecycle.restore(session, user, experiment_id)
    session.commit()
    return experiment_views(session, [experiment])[0]


@router.post("/{experiment_id}/purge", status_code=204)
def purge_experiment(experiment_id: str, session: WriteSession, user: CurrentUser,
                     settings: SettingsDep) -> None:
    """Remove a soft-deleted experiment for good, with its runs, metrics and checkpoints
    (project admins; 409 unless it was deleted first)."""
    unused = lifecycle.purge(session, user, experiment_id)
    session.commit()
    checkpoints.remove(settings.data_dir, unused)
