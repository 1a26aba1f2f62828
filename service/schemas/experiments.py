"""API schemas of experiments: the request, its views, the summary table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from .common import Json, JsonObject, Name, Page, ProjectName, Strict, Tag, Value
from .comparison import ComparisonOut


class ExperimentCreate(Strict):
    """An experiment request: sections (any list is a grid axis) and an optional search."""

    name: Name
    project: ProjectName = "default"
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    dataset: Json = None
    model: Json = None
    optimizer: Json = None  # required, except by a comparison (search.optimizers)
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


class SearchSummary(BaseModel):
    """Where an adaptive search stands."""

    method: str
    trials: int = Field(description="trials the search will run, exactly")
    done: int = Field(description="trials that have ended (pruned, failed and cancelled too)")
    in_flight: int = Field(description="trials queued or running")
    pruned: int
    best_run_id: str | None
    best_value: Value | None = Field(description="the best objective of a complete trial")


class ExperimentDetail(ExperimentOut):
    request: dict[str, Any]
    summary: list[SummaryRow]
    search: SearchSummary | None = Field(None, description="an adaptive search's progress")
    comparison: ComparisonOut | None = Field(None, description="a comparison of optimizers' "
                                                               "result so far")


class ExperimentPage(Page):
    experiments: list[ExperimentOut]


class TrialOut(BaseModel):
    number: int
    run_id: str
    status: str
    params: dict[str, Any] = Field(description="what the sampler suggested (a hyperparameter "
                                               "the sampled optimizer lacks is not in the "
                                               "run's config)")
    evaluations: int = Field(description="objective reports so far (the pruner's resource)")
    value: Value | None = Field(description="the objective of a complete trial")
    finished_at: datetime | None
    optimizer: str | None = Field(None, description="a comparison's: whose search it is")
    final: bool = Field(False, description="a comparison's final run (best config, fresh "
                                           "seed), not a search trial")


class TrialList(BaseModel):
    objective: dict[str, str]
    trials: list[TrialOut]


class ImportanceOut(BaseModel):
    """Which parameters the objective depends on (Optuna's fANOVA evaluator), summing to 1."""

    importances: dict[str, float] | None = Field(description="null until enough trials are "
                                                             "complete")
    complete_trials: int
    needed: int = Field(description="complete trials the evaluator needs")
