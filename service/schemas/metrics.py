"""API schemas of metrics: batches of points and histories."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from .common import MetricKey, NonFinite, Strict, Value


class MetricPoint(Strict):
    key: MetricKey
    step: int = Field(ge=0, le=2**62)
    # strict: a JSON number (bools and numeric strings refused), or one of the NonFinite
    # strings; validated in Rust, with no Python callback per point
    value: Annotated[float, Field(strict=True)] | NonFinite
    time: float | None = Field(None, allow_inf_nan=False)


# the one limit on a batch is the server's setting (OPTRACK_MAX_METRIC_BATCH), checked by the
# ingest with a 413; the lease response tells workers its value
METRIC_BATCH_RULE = ("at most the server's max_metric_batch points (10,000 unless the operator "
                     "set OPTRACK_MAX_METRIC_BATCH; workers get it in their lease); more: 413")


class MetricBatch(Strict):
    metrics: list[MetricPoint] = Field(description=METRIC_BATCH_RULE)


class MetricBatchResult(BaseModel):
    received: int
    inserted: int
    pruned: bool = Field(False, description="the run's search pruned it on these points: stop "
                                            "training it (it is now pruned)")


class Series(BaseModel):
    run_id: str
    key: str
    steps: list[int]
    values: list[Value]
    total_points: int
    downsampled: bool


class HistoryOut(BaseModel):
    series: list[Series]


class MetricsQuery(Strict):
    run_ids: list[Annotated[str, StringConstraints(max_length=64, pattern=r"^[^\x00]*$")]] = \
        Field(min_length=1, max_length=1000)
    keys: list[MetricKey] = Field(min_length=1, max_length=50)
    max_points: int | None = Field(None, ge=10)
