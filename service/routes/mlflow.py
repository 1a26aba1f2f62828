"""/api/2.0/mlflow: the part of MLflow's tracking REST API that MLflow's own client needs to log
runs, read and search them (service/mlflow/ says how it maps to optrack). Reads need the
``read`` scope — the two searches too, although MLflow sends them as POST — writes ``write``.
Errors answer in MLflow's shape (handlers.py). MLflow documents these routes, so they are
left out of optrack's OpenAPI schema. Artifacts are not stored: their routes answer 501."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ..deps import CurrentUser, ReadSession, SettingsDep, WriteSession, scope
from ..errors import InvalidInput, NotSupported
from ..mlflow import experiments, runs, search
from ..mlflow.caller import Caller
from ..mlflow.entities import experiment_entity, run_entities, run_info
from ..schemas.mlflow import (ExperimentCreate, ExperimentSearch, LogBatch, LogMetric, LogParam,
                              RunCreate, RunRef, RunSearch, RunUpdate, SetTag)

router = APIRouter(prefix="/api/2.0/mlflow", tags=["mlflow"], include_in_schema=False)
artifacts = APIRouter(include_in_schema=False)
READ, WRITE = [scope("read")], [scope("write")]
RunId = Annotated[str | None, Query(max_length=64)]


@router.post("/experiments/create", dependencies=WRITE)
def create_experiment(body: ExperimentCreate, session: WriteSession, user: CurrentUser) -> dict:
    caller = Caller(session, user)
    experiment = experiments.create(caller, body.name, [(t.key, t.value) for t in body.tags],
                                    body.artifact_location)
    session.commit()
    return {"experiment_id": caller.mlflow_id(experiment.id)}


@router.get("/experiments/get", dependencies=READ)
def get_experiment(session: ReadSession, user: CurrentUser,
                   experiment_id: str = Query(max_length=64)) -> dict:
    caller = Caller(session, user)
    return {"experiment": experiment_entity(caller, experiments.get(caller, experiment_id))}


@router.get("/experiments/get-by-name", dependencies=READ)
def get_experiment_by_name(session: ReadSession, user: CurrentUser,
                           experiment_name: str = Query(max_length=200)) -> dict:
    caller = Caller(session, user)
    found = experiments.get_by_name(caller, experiment_name)
    return {"experiment": experiment_entity(caller, found)}


@router.post("/experiments/search", dependencies=READ)
def search_experiments(body: ExperimentSearch, session: ReadSession, settings: SettingsDep,
                       user: CurrentUser) -> dict:
    _active_only("view_type", body.view_type)
    caller = Caller(session, user)
    page, token = experiments.search(caller, body.filter, body.order_by,
                                     min(body.max_results, settings.max_page_size),
                                     body.page_token)
    return _page("experiments", [experiment_entity(caller, e) for e in page], token)


@router.post("/runs/create", dependencies=WRITE)
def create_run(body: RunCreate, session: WriteSession, user: CurrentUser) -> dict:
    caller = Caller(session, user)
    run = runs.create(caller, body.experiment_id, body.run_name,
                      {t.key: t.value for t in body.tags})
    session.commit()
    return {"run": run_entities(caller, [run])[0]}


@router.get("/runs/get", dependencies=READ)
def get_run(session: ReadSession, user: CurrentUser, run_id: RunId = None,
            run_uuid: RunId = None) -> dict:
    caller = Caller(session, user)
    found = runs.get(caller, _run_id(RunRef(run_id=run_id, run_uuid=run_uuid)))
    return {"run": run_entities(caller, [found])[0]}


@router.post("/runs/update", dependencies=WRITE)
def update_run(body: RunUpdate, session: WriteSession, user: CurrentUser) -> dict:
    caller = Caller(session, user)
    run = runs.update(caller, _run_id(body), body.status, body.run_name)
    session.commit()
    return {"run_info": run_info(caller, run)}


@router.post("/runs/delete", dependencies=WRITE)
def delete_run(body: RunRef, session: WriteSession, user: CurrentUser) -> dict:
    runs.delete(Caller(session, user), _run_id(body))
    session.commit()
    return {}


@router.post("/runs/search", dependencies=READ)
def search_runs(body: RunSearch, session: ReadSession, settings: SettingsDep,
                user: CurrentUser) -> dict:
    _active_only("run_view_type", body.run_view_type)
    caller = Caller(session, user)
    page, token = search.search_runs(caller, body.experiment_ids, body.filter, body.order_by,
                                     min(body.max_results, settings.max_page_size),
                                     body.page_token)
    return _page("runs", run_entities(caller, page), token)


@router.post("/runs/log-batch", dependencies=WRITE)
def log_batch(body: LogBatch, session: WriteSession, settings: SettingsDep,
              user: CurrentUser) -> dict:
    points = [runs.point(m.key, m.value, m.timestamp, m.step) for m in body.metrics]
    return _log(session, user, settings, body, points, [(p.key, p.value) for p in body.params],
                {t.key: t.value for t in body.tags})


@router.post("/runs/log-metric", dependencies=WRITE)
def log_metric(body: LogMetric, session: WriteSession, settings: SettingsDep,
               user: CurrentUser) -> dict:
    point = runs.point(body.key, body.value, body.timestamp, body.step)
    return _log(session, user, settings, body, [point], [], {})


@router.post("/runs/log-parameter", dependencies=WRITE)
def log_parameter(body: LogParam, session: WriteSession, settings: SettingsDep,
                  user: CurrentUser) -> dict:
    return _log(session, user, settings, body, [], [(body.key, body.value)], {})


@router.post("/runs/set-tag", dependencies=WRITE)
def set_tag(body: SetTag, session: WriteSession, settings: SettingsDep,
            user: CurrentUser) -> dict:
    return _log(session, user, settings, body, [], [], {body.key: body.value})


@router.get("/metrics/get-history", dependencies=READ)
def get_metric_history(session: ReadSession, user: CurrentUser, run_id: RunId = None,
                       run_uuid: RunId = None,
                       metric_key: str = Query(max_length=250),
                       max_results: int | None = Query(None, ge=1),
                       page_token: str | None = Query(None, max_length=4096)) -> dict:
    points, token = runs.history(Caller(session, user),
                                 _run_id(RunRef(run_id=run_id, run_uuid=run_uuid)),
                                 metric_key, max_results, page_token)
    return _page("metrics", points, token)


@router.api_route("/artifacts/{path:path}", methods=["GET", "POST", "PUT", "DELETE"],
                  dependencies=[scope()])
@artifacts.api_route("/api/2.0/mlflow-artifacts/{path:path}",
                     methods=["GET", "POST", "PUT", "DELETE"], dependencies=[scope()])
def artifacts_not_supported(path: str) -> dict:
    """MLflow's artifact calls (listing, uploads, downloads): optrack stores no artifacts."""
    raise NotSupported("optrack does not store artifacts: log files elsewhere, and their "
                       "locations as tags or params")


def _log(session, user, settings, body: RunRef, points, params, tags) -> dict:
    runs.log(Caller(session, user), _run_id(body), points, params, tags,
             settings.max_metric_batch)
    session.commit()
    return {}


def _run_id(body: RunRef) -> str:
    found = body.run_id or body.run_uuid
    if not found:
        raise InvalidInput.field("run_id", "required")
    return found


def _active_only(field: str, view_type: str) -> None:
    if view_type != "ACTIVE_ONLY":
        raise InvalidInput.field(field, "optrack lists live objects only (ACTIVE_ONLY): "
                                        "deleted ones are gone from every view")


def _page(name: str, items: list, token: str | None) -> dict:
    return {name: items, **({"next_page_token": token} if token else {})}
