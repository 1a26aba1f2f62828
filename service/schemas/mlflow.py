"""Request bodies of the MLflow-compatible API, as MLflow's client sends them (proto3 JSON with
snake_case names; int64 fields as numbers or numeric strings; doubles may be "NaN",
"Infinity", "-Infinity"). Fields the client sends that optrack does not use (``run_uuid``
beside ``run_id``, ``model_id``, ``dataset_name``, …) are ignored, as MLflow's server ignores
unknown ones. Lengths and batch sizes are MLflow's own limits; the rules on what a key may
be, and on what optrack can store, are the domain's (mlflow/values.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from .common import MetricKey, NonFinite, storable_text

VIEW_TYPES = ("ACTIVE_ONLY", "DELETED_ONLY", "ALL")
RUN_STATUSES = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")


def _text(max_length: int) -> type[str]:
    return Annotated[str, StringConstraints(max_length=max_length),
                     AfterValidator(storable_text)]


Key = _text(250)
Id = _text(64)
ParamValue = _text(6000)
TagValue = _text(8000)
Filter = _text(4000)
Token = _text(4096)
Millis = Annotated[int, Field(ge=0, le=2**53)]


class MlflowBody(BaseModel):
    model_config = ConfigDict(extra="ignore")


class KeyValue(MlflowBody):
    key: Key
    value: TagValue = ""


class ExperimentCreate(MlflowBody):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200,
                                           pattern=r"^[^\x00-\x1f\x7f]+$"),
                    AfterValidator(storable_text)]
    artifact_location: _text(1000) | None = None
    tags: list[KeyValue] = Field(default_factory=list, max_length=100)


class ExperimentSearch(MlflowBody):
    max_results: int = Field(1000, ge=1, le=50_000)
    page_token: Token | None = None
    filter: Filter | None = None
    order_by: list[_text(500)] = Field(default_factory=list, max_length=10)
    view_type: Literal[VIEW_TYPES] = "ACTIVE_ONLY"


class RunRef(MlflowBody):
    """A body naming a run: MLflow's client sends both ``run_id`` and the older ``run_uuid``."""

    run_id: Id | None = None
    run_uuid: Id | None = None


class RunCreate(MlflowBody):
    experiment_id: Id | None = None
    run_name: _text(250) | None = None
    start_time: Millis | None = None
    tags: list[KeyValue] = Field(default_factory=list, max_length=1000)


class RunUpdate(RunRef):
    status: Literal[RUN_STATUSES] | None = None
    end_time: Millis | None = None
    run_name: _text(250) | None = None


class MetricIn(MlflowBody):
    key: MetricKey
    value: float | NonFinite
    timestamp: Millis | None = None  # None: the time of arrival
    step: int = Field(0, ge=0, le=2**62)


class ParamIn(MlflowBody):
    key: Key
    value: ParamValue


class LogBatch(RunRef):
    metrics: list[MetricIn] = Field(default_factory=list, max_length=1000)
    params: list[ParamIn] = Field(default_factory=list, max_length=100)
    tags: list[KeyValue] = Field(default_factory=list, max_length=100)


class LogMetric(RunRef, MetricIn):
    pass


class LogParam(RunRef, ParamIn):
    pass


class SetTag(RunRef, KeyValue):
    pass


class RunSearch(MlflowBody):
    experiment_ids: list[Id] = Field(default_factory=list, max_length=1000)
    filter: Filter | None = None
    run_view_type: Literal[VIEW_TYPES] = "ACTIVE_ONLY"
    max_results: int = Field(1000, ge=1, le=50_000)
    order_by: list[_text(500)] = Field(default_factory=list, max_length=10)
    page_token: Token | None = None
