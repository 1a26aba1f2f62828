"""API schemas (pydantic), kept apart from the ORM models."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

MAX_JSON_DEPTH = 32


def _storable(value: Any, depth: int = 0) -> Any:
    """JSON both engines can store: finite numbers, no NUL characters, bounded depth."""
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("numbers must be finite (JSON has no NaN or infinity)")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
        raise ValueError("integers must fit in 64 bits")
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("strings must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("strings must be valid Unicode (no lone surrogates)") from None
    if isinstance(value, dict):
        for k, v in value.items():
            _storable(k, depth + 1)
            _storable(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _storable(v, depth + 1)
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(_storable)]
Json = Annotated[Any, AfterValidator(_storable)]
Text = Annotated[str, StringConstraints(max_length=100_000, pattern=r"^[^\x00]*$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200,
                                        pattern=r"^[^\x00-\x1f\x7f]+$")]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=100,
                                       pattern=r"^[^\x00-\x1f\x7f]+$")]
ProjectName = Annotated[str, StringConstraints(min_length=1, max_length=100,
                                               pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
MetricKey = Annotated[str, StringConstraints(min_length=1, max_length=200,
                                             pattern=r"^[A-Za-z0-9_.\-/]+$")]
# JSON has no NaN or infinity: non-finite values travel as these strings, both ways
NonFinite = Literal["NaN", "Infinity", "-Infinity"]
Value = float | NonFinite | None


def encode_value(v: float | None) -> float | str | None:
    """A float for JSON: NaN (stored as NULL) and ±inf become strings."""
    if v is None or math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return v


def decode_value(v: float | str | None) -> float:
    if v is None or v == "NaN":
        return math.nan
    if isinstance(v, str):
        return math.inf if v == "Infinity" else -math.inf
    return float(v)


class ErrorInfo(BaseModel):
    code: str
    message: str
    details: list[dict[str, Any]]


class ErrorOut(BaseModel):
    """Every error response: ``{"error": {"code", "message", "details"}}``."""

    error: ErrorInfo


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": meaning} for status, meaning in (
        (401, "no valid credentials"), (403, "missing scope, role or CSRF token"),
        (404, "no such object (or not one you may see)"), (409, "the object's state forbids it"),
        (413, "body or batch too large"), (422, "a value broke a rule (details name it)"),
        (429, "too many attempts"))}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- experiments ---------------------------------------------------------------------------

class ExperimentCreate(Strict):
    """An experiment request: sections (any list is a grid axis) and an optional search."""

    name: Name
    project: ProjectName = "default"
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    dataset: Json = None
    model: Json = None
    optimizer: Json
    schedule: Json = None
    training: JsonObject = Field(default_factory=dict)
    search: JsonObject | None = None


class ExperimentOut(BaseModel):
    id: str
    name: str
    project: str
    tags: list[str]
    created_at: datetime
    run_ids: list[str] | None = None
    status_counts: dict[str, int] = Field(default_factory=dict)


class SummaryRow(BaseModel):
    """One distinct config (seed aside): mean ± std over seeds and the best run."""

    config: dict[str, Any]
    runs: int
    metrics: dict[str, dict[str, Value]]  # key → {"mean", "std", "n"}
    best_run_id: str | None
    best_by: str | None


class ExperimentDetail(ExperimentOut):
    request: dict[str, Any]
    summary: list[SummaryRow]


class Page(BaseModel):
    next_page_token: str | None = None


class ExperimentPage(Page):
    experiments: list[ExperimentOut]


# -- runs ----------------------------------------------------------------------------------

class RunCreate(Strict):
    """An external run: trained elsewhere, logged here."""

    name: Name
    project: ProjectName = "default"
    config: JsonObject = Field(default_factory=dict)
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    notes: Text = ""


class RunPatch(Strict):
    tags: list[Tag] | None = Field(None, max_length=50)
    notes: Text | None = None
    name: Name | None = None


class RunFinish(Strict):
    status: Literal["succeeded", "failed", "diverged"] = "succeeded"
    error: Text | None = None
    summary: JsonObject | None = None


class RunOut(BaseModel):
    id: str
    name: str
    project: str
    experiment_id: str | None
    status: str
    external: bool
    config: dict[str, Any]
    tags: list[str]
    notes: str
    summary: dict[str, Any] | None
    error: str | None
    attempt: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    metrics: dict[str, Value] = Field(default_factory=dict, description="latest value per key")
    total_steps: int | None = Field(None, description="optimizer steps the run will take "
                                                      "(null for external runs)")
    step: int | None = Field(None, description="highest step logged so far over all metric "
                                               "keys (null before the first metric)")


class RunPage(Page):
    runs: list[RunOut]


class AttemptOut(BaseModel):
    """One lease of a run by a worker, and how it ended."""

    attempt: int
    worker_id: str
    started_at: datetime
    ended_at: datetime | None
    outcome: str | None = Field(description="succeeded, failed, diverged, expired, released, "
                                            "cancelled; null while the attempt runs")
    error: str | None


class AttemptList(BaseModel):
    attempts: list[AttemptOut]


# -- metrics -------------------------------------------------------------------------------

class MetricPoint(Strict):
    key: MetricKey
    step: int = Field(ge=0, le=2**62)
    # strict: a JSON number (bools and numeric strings refused), or one of the NonFinite
    # strings; validated in Rust, with no Python callback per point
    value: Annotated[float, Field(strict=True)] | NonFinite
    time: float | None = Field(None, allow_inf_nan=False)


class MetricBatch(Strict):
    metrics: list[MetricPoint] = Field(max_length=100_000)


class MetricBatchResult(BaseModel):
    received: int
    inserted: int


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


# -- worker protocol -----------------------------------------------------------------------

WorkerId = Annotated[str, StringConstraints(min_length=1, max_length=100,
                                            pattern=r"^[A-Za-z0-9_.:@\-]+$")]


class LeaseRequest(Strict):
    worker_id: WorkerId
    wait: float = Field(0.0, ge=0, le=60, description="seconds to long-poll for a run")


class LeaseOut(BaseModel):
    run_id: str
    attempt: int
    config: dict[str, Any] = Field(description="the flat config optim_core.train takes")
    lease_seconds: float
    checkpoint_step: int | None


class AttemptBody(Strict):
    attempt: int = Field(ge=1)


class HeartbeatOut(BaseModel):
    cancelled: bool
    lease_seconds: float


class WorkerMetrics(AttemptBody):
    metrics: list[MetricPoint] = Field(max_length=100_000)


class WorkerFinish(AttemptBody):
    status: Literal["succeeded", "failed", "diverged"]
    summary: JsonObject | None = None
    error: Text | None = None


class CheckpointOut(BaseModel):
    sha256: str
    step: int


# -- meta ----------------------------------------------------------------------------------

class SurfaceOut(BaseModel):
    """A 2-D test function sampled on a grid, as plotly's contour takes it."""

    name: str
    formula: str
    x: list[float]
    y: list[float]
    z: list[list[float | None]] = Field(description="z[i][j] = f(x[j], y[i]): one row per y; "
                                                    "null where f is not finite")
    start: list[float]
    minimum: list[float] | None
