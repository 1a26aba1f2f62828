"""/api/v1/experiments: submit, list, inspect, export."""

from __future__ import annotations

import base64
import json
from datetime import datetime

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import func, select, tuple_

from .. import audit, checkpoints, export, lifecycle, metrics_store
from ..auth import CurrentUser, scope
from ..deps import ReadSession, SettingsDep, WriteSession
from ..errors import InvalidInput
from ..expansion import expand
from ..models import Experiment, ExperimentTag, Project, Run, RunTag, utcnow
from ..projects import project_names, writable_project
from ..schemas import ExperimentCreate, ExperimentDetail, ExperimentOut, ExperimentPage
from ..summary import summarise

router = APIRouter(prefix="/api/v1/experiments", tags=["experiments"], dependencies=[scope()])


@router.post("", status_code=201, response_model=ExperimentOut)
def create_experiment(body: ExperimentCreate, request: Request, session: WriteSession,
                      settings: SettingsDep, user: CurrentUser) -> ExperimentOut:
    """Expand the request into runs (grid × random trials), validate every run, store the
    experiment and its runs as ``queued`` — all or nothing. Needs the member role in the
    project."""
    spec = body.model_dump(exclude={"name", "project", "tags"}, exclude_none=True)
    pid = writable_project(session, user, body.project)
    runs = expand(spec, settings.max_runs_per_experiment)
    tags = sorted(set(body.tags))
    now = utcnow()
    experiment = Experiment(project_id=pid, name=body.name, tags=tags, request=spec,
                            created_at=now, tag_rows=[ExperimentTag(tag=t) for t in tags])
    session.add(experiment)
    session.flush()
    width = len(str(len(runs)))
    stem = body.name[:200 - width - 2]  # "<name> #<n>" must fit the 200-character column
    rows = [Run(project_id=pid, experiment_id=experiment.id, config=r.config, created_at=now,
                total_steps=r.total_steps, name=f"{stem} #{i:0{width}d}",
                tags=[RunTag(tag=t) for t in tags])
            for i, r in enumerate(runs, start=1)]
    session.add_all(rows)
    audit.record(session, user, "experiment.create", pid, experiment.id, runs=len(rows))
    session.commit()
    request.app.state.queue_signal.notify()  # wake workers waiting for a lease
    return ExperimentOut(id=experiment.id, name=experiment.name, project=body.project,
                         tags=tags, created_at=now, run_ids=[r.id for r in rows],
                         status_counts={"queued": len(rows)})


@router.get("", response_model=ExperimentPage)
def list_experiments(session: ReadSession, settings: SettingsDep, user: CurrentUser,
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
    stmt = select(Experiment).where(
        user.where(Experiment.project_id, "admin" if deleted else "viewer"),
        Experiment.deleted_at.is_not(None) if deleted else Experiment.deleted_at.is_(None))
    if project is not None:
        stmt = stmt.join(Project).where(Project.name == project)
    if tag is not None:
        stmt = stmt.where(select(ExperimentTag).where(ExperimentTag.experiment_id == Experiment.id,
                                                      ExperimentTag.tag == tag).exists())
    if q:
        stmt = stmt.where(Experiment.name.contains(q, autoescape=True))
    if page_token:
        created, last_id = _decode_token(page_token)
        stmt = stmt.where(tuple_(Experiment.created_at, Experiment.id) < tuple_(created, last_id))
    rows = session.scalars(stmt.order_by(Experiment.created_at.desc(), Experiment.id.desc())
                           .limit(limit + 1)).all()
    page = rows[:limit]
    token = _encode_token(page[-1]) if len(rows) > limit else None
    return ExperimentPage(experiments=_views(session, page), next_page_token=token)


@router.get("/{experiment_id}", response_model=ExperimentDetail)
def get_experiment(experiment_id: str, session: ReadSession,
                   user: CurrentUser) -> ExperimentDetail:
    """The experiment with run counts per status and its summary table."""
    experiment = lifecycle.get_experiment(session, user, experiment_id)
    runs = session.scalars(select(Run).where(Run.experiment_id == experiment_id)
                           .order_by(Run.name)).all()
    latest = metrics_store.latest_values(session, [r.id for r in runs])
    view = _views(session, [experiment])[0]
    return ExperimentDetail(**view.model_dump(exclude={"run_ids"}), run_ids=[r.id for r in runs],
                            request=experiment.request, summary=summarise(runs, latest))


@router.get("/{experiment_id}/export")
def export_experiment(experiment_id: str, request: Request, session: ReadSession,
                      user: CurrentUser,
                      format: str = Query("csv", pattern="^(csv|json)$")) -> StreamingResponse:
    """One row per run: flattened config columns and final metrics, streamed."""
    lifecycle.get_experiment(session, user, experiment_id)
    writer = export.export_csv if format == "csv" else export.export_json

    def body():
        with request.app.state.reader() as own_session:  # outlives the request's session
            yield from writer(own_session, experiment_id)

    media = "text/csv" if format == "csv" else "application/json"
    return StreamingResponse(body(), media_type=media, headers={
        "content-disposition": f'attachment; filename="experiment-{experiment_id}.{format}"'})


@router.delete("/{experiment_id}", response_model=ExperimentOut)
def delete_experiment(experiment_id: str, request: Request, session: WriteSession,
                      user: CurrentUser) -> ExperimentOut:
    """Soft delete (project admins): the experiment and its runs disappear from every view,
    its queued and running runs are cancelled; ``restore`` brings it back."""
    experiment = lifecycle.soft_delete(session, user, experiment_id)
    session.commit()
    return _views(session, [experiment])[0]


@router.post("/{experiment_id}/restore", response_model=ExperimentOut)
def restore_experiment(experiment_id: str, session: WriteSession,
                       user: CurrentUser) -> ExperimentOut:
    """Undo a soft delete (project admins)."""
    experiment = lifecycle.restore(session, user, experiment_id)
    session.commit()
    return _views(session, [experiment])[0]


@router.post("/{experiment_id}/purge", status_code=204)
def purge_experiment(experiment_id: str, session: WriteSession, user: CurrentUser,
                     settings: SettingsDep) -> None:
    """Remove a soft-deleted experiment for good, with its runs, metrics and checkpoints
    (project admins; 409 unless it was deleted first)."""
    unused = lifecycle.purge(session, user, experiment_id)
    session.commit()
    checkpoints.remove(settings.data_dir, unused)


def _views(session, experiments: list[Experiment]) -> list[ExperimentOut]:
    ids = [e.id for e in experiments]
    counts: dict[str, dict[str, int]] = {i: {} for i in ids}
    if ids:
        for eid, status, n in session.execute(
                select(Run.experiment_id, Run.status, func.count())
                .where(Run.experiment_id.in_(ids)).group_by(Run.experiment_id, Run.status)):
            counts[eid][status] = n
    names = project_names(session, {e.project_id for e in experiments})
    return [ExperimentOut(id=e.id, name=e.name, project=names.get(e.project_id, ""),
                          tags=list(e.tags), created_at=e.created_at, status_counts=counts[e.id])
            for e in experiments]


def _encode_token(experiment: Experiment) -> str:
    raw = json.dumps([experiment.created_at.isoformat(), experiment.id]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_token(token: str) -> tuple[datetime, str]:
    try:
        created, last_id = json.loads(base64.urlsafe_b64decode(token.encode()))
        return datetime.fromisoformat(created), str(last_id)
    except Exception:
        raise InvalidInput.field("page_token", "is not a token this server issued") from None
