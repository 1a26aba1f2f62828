"""API schemas of a fair comparison of optimizers (``"search": {"method": "compare"}``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from .common import Value


class FinalOut(BaseModel):
    """An optimizer's objective over the final runs of its best config (finite values)."""

    mean: float | None
    std: float | None = Field(description="sample standard deviation (n − 1)")
    ci95: list[float] | None = Field(description="Student's t 95 % interval of the mean "
                                                 "[low, high]; null below two values")
    n: int = Field(description="final runs with a finite objective")
    diverged: int = Field(description="final runs that diverged (not in mean, std, n)")
    failed: int = Field(description="final runs that failed or were cancelled")
    values: list[Value] = Field(description="the final runs' objectives, in seed order")


class OptimizerResult(BaseModel):
    optimizer: str
    status: Literal["searching", "final runs", "done", "no complete trial"]
    tuned: list[str] = Field(description="the tuned fields that apply to this optimizer")
    budget: int = Field(description="search trials this optimizer gets")
    trials: int = Field(description="search trials asked so far")
    pruned: int
    best_run_id: str | None
    best_value: Value | None = Field(description="the best search trial's objective")
    best_params: dict[str, Any] | None = Field(description="the best trial's tuned values")
    best_config: dict[str, Any] | None = Field(description="the best trial's whole config")
    final_run_ids: list[str]
    final: FinalOut | None = Field(description="null until every final run has ended")
    rank: int | None = Field(description="1 = best final mean; null until every optimizer's "
                                         "final runs have ended")


class PairOut(BaseModel):
    a: str
    b: str
    p_value: float | None = Field(description="Welch's two-sided t-test; null when undefined "
                                              "(under two values a side, or no spread)")
    p_holm: float | None = Field(description="Holm-adjusted over the defined pairs")
    significant: bool = Field(description="p_holm <= alpha")


class ComparisonOut(BaseModel):
    objective: dict[str, str]
    alpha: float
    final_seeds: int
    optimizers: list[OptimizerResult]
    pairs: list[PairOut] = Field(description="every pair, once every optimizer is done")
