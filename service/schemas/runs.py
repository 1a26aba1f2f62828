"""API schemas of runs: external runs, their changes, their views and attempts."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from .common import JsonObject, Name, Page, ProjectName, Strict, Tag, Text, Value


class RunCreate(Strict):
    """An external run: trained elsewhere, logged here."""

    name: Name
    project: ProjectName = "default"
    config: JsonObject = Field(default_factory=dict)
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    notes: Text = ""
    experiment: Name | None = Field(None, description="the project's experiment of this name "
                                                      "(made if missing) to file the run under")


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
