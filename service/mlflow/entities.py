"""optrack's experiments and runs as MLflow's entities (the JSON of MLflow's protos): a run's
info, its data (the latest value of each metric with its step and timestamp, its config as
params, its tags) and empty inputs; times in milliseconds; statuses mapped both ways."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Sequence

from sqlalchemy import and_, select

from optrack.wire import encode_value

from ..models import Experiment, LatestMetric, Metric, Run
from .caller import Caller
from .values import NOTE_TAG, RUN_NAME_TAG, USER_TAG, params_of, tag_pair

# optrack's run states as MLflow's: a diverged run failed, a pruned one was stopped (killed)
MLFLOW_STATUS = {"queued": "SCHEDULED", "running": "RUNNING", "succeeded": "FINISHED",
                 "failed": "FAILED", "diverged": "FAILED", "pruned": "KILLED",
                 "cancelled": "KILLED"}
OPTRACK_STATUSES = {mlflow: tuple(s for s, m in MLFLOW_STATUS.items() if m == mlflow)
                    for mlflow in dict.fromkeys(MLFLOW_STATUS.values())}
ARTIFACTS = "mlflow-artifacts:"  # answered "not supported" (routes/mlflow.py)


def millis(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def metric_entity(key: str, step: int, value: float | None, time: float) -> dict[str, Any]:
    """One point: NaN (NULL in the database) and ±inf as MLflow's JSON spells them."""
    return {"key": key, "value": encode_value(math.nan if value is None else value),
            "timestamp": round(time * 1000), "step": step}


def experiment_entity(caller: Caller, experiment: Experiment) -> dict[str, Any]:
    mlflow_id = caller.mlflow_id(experiment.id)
    created = millis(experiment.created_at)
    return {"experiment_id": mlflow_id, "name": experiment.name,
            "artifact_location": f"{ARTIFACTS}/{mlflow_id}", "lifecycle_stage": "active",
            "creation_time": created, "last_update_time": created,
            "tags": [{"key": k, "value": v} for k, v in map(tag_pair, experiment.tags)]}


def run_info(caller: Caller, run: Run) -> dict[str, Any]:
    experiment = caller.mlflow_id(run.experiment_id)
    info = {"run_id": run.id, "run_uuid": run.id, "run_name": run.name,
            "experiment_id": experiment, "user_id": _tags(run).get(USER_TAG, ""),
            "status": MLFLOW_STATUS[run.status],
            "start_time": millis(run.started_at or run.created_at),
            "artifact_uri": f"{ARTIFACTS}/{experiment or 'none'}/{run.id}/artifacts",
            "lifecycle_stage": "active"}
    if run.finished_at is not None:
        info["end_time"] = millis(run.finished_at)
    return info


def run_entities(caller: Caller, runs: Sequence[Run]) -> list[dict[str, Any]]:
    """MLflow runs, with their latest metrics read in one query."""
    latest = _latest_points(caller, [r.id for r in runs])
    return [{"info": run_info(caller, run),
             "data": {"metrics": latest.get(run.id, []),
                      "params": [{"key": k, "value": v}
                                 for k, v in params_of(run.config).items()],
                      "tags": [{"key": k, "value": v} for k, v in _tags(run).items()]},
             "inputs": {}}
            for run in runs]


def _tags(run: Run) -> dict[str, str]:
    tags = dict(tag_pair(t.tag) for t in run.tags)
    tags[RUN_NAME_TAG] = run.name
    if run.notes:
        tags[NOTE_TAG] = run.notes
    return tags


def _latest_points(caller: Caller, run_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """run id → the point at the highest step of each of its metrics."""
    out: dict[str, list[dict[str, Any]]] = {}
    if not run_ids:
        return out
    rows = caller.session.execute(
        select(LatestMetric.run_id, LatestMetric.key, LatestMetric.step, LatestMetric.value,
               Metric.time)
        .join(Metric, and_(Metric.run_id == LatestMetric.run_id,
                           Metric.key == LatestMetric.key, Metric.step == LatestMetric.step))
        .where(LatestMetric.run_id.in_(run_ids)).order_by(LatestMetric.key))
    for run_id, key, step, value, time in rows:
        out.setdefault(run_id, []).append(metric_entity(key, step, value, time))
    return out
