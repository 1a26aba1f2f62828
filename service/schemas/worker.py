"""API schemas of the worker protocol: leases, heartbeats, metrics, checkpoints, finishing."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from .common import JsonObject, Strict, Text
from .metrics import METRIC_BATCH_RULE, MetricPoint

WorkerId = Annotated[str, StringConstraints(min_length=1, max_length=100,
                                            pattern=r"^[A-Za-z0-9_.:@\-]+$")]


class LeaseRequest(Strict):
    worker_id: WorkerId
    wait: float = Field(0.0, ge=0, le=60, description="seconds to long-poll for a run")


class WorkerLimits(BaseModel):
    """The server's limits, so a worker never sends what this server refuses (an operator may
    lower them; workers on other machines learn it at their next lease)."""

    max_metric_batch: int = Field(description="points per metrics request")
    max_checkpoint_bytes: int = Field(description="bytes per checkpoint upload")


class LeaseOut(BaseModel):
    """A leased run. Clients ignore fields they do not know: later servers may add some."""

    run_id: str
    attempt: int
    config: dict[str, Any] = Field(description="the flat config optim_core.train takes")
    lease_seconds: float
    checkpoint_step: int | None
    limits: WorkerLimits
    prune_metric: str | None = Field(None, description="the metric whose reports the run's "
                                                       "search prunes on: after logging it, "
                                                       "wait for the answer (``pruned``) "
                                                       "before training on")
    finish_takes_metrics: bool = Field(True, description="``finish`` stores the run's last "
                                                         "points (``metrics``) before it ends "
                                                         "the run: one request fewer a run")
    finish_leases_next: bool = Field(True, description="``finish`` with ``lease_next_for`` "
                                                       "also leases the worker its next run, "
                                                       "in the same transaction: one request "
                                                       "fewer a run")


class AttemptBody(Strict):
    attempt: int = Field(ge=1)


class HeartbeatOut(BaseModel):
    cancelled: bool = Field(description="stop the run: a user cancelled it, or its search's "
                                        "pruner stopped it")
    pruned: bool = Field(False, description="the run was stopped by its search's pruner")
    lease_seconds: float


class WorkerMetrics(AttemptBody):
    metrics: list[MetricPoint] = Field(description=METRIC_BATCH_RULE)


class WorkerFinish(AttemptBody):
    status: Literal["succeeded", "failed", "diverged"]
    summary: JsonObject | None = None
    error: Text | None = None
    metrics: list[MetricPoint] = Field(default_factory=list, description=(
        "the run's last points, stored in the same transaction before it ends (not judged by "
        "a pruner: the run ends anyway); " + METRIC_BATCH_RULE))
    lease_next_for: WorkerId | None = Field(None, description=(
        "a worker id: lease this worker the next queued run in the same transaction, without "
        "waiting (``next_lease`` in the answer; null when none is queued — then the worker "
        "long-polls ``/lease`` as usual)"))


class FinishOut(BaseModel):
    status: str = Field(description="the run's status now: succeeded, diverged, or queued / "
                                    "failed after a failed attempt")
    next_lease: LeaseOut | None = Field(None, description="the run leased for "
                                                          "``lease_next_for``; null when none "
                                                          "was queued or none was asked for")


class CheckpointOut(BaseModel):
    sha256: str
    step: int
