"""What ``train`` yields."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TIMING_KEYS = frozenset({"step_time"})  # wall-clock metrics: the only non-deterministic values


@dataclass(frozen=True)
class Metrics:
    """Values recorded at ``step`` (optimizer updates done so far) in 0-based ``epoch``."""

    step: int
    epoch: int
    values: dict[str, float]


@dataclass(frozen=True)
class Checkpoint:
    """An ``.npz`` blob holding everything needed to continue after ``step``."""

    data: bytes = field(repr=False)
    step: int


@dataclass(frozen=True)
class Finished:
    """The run's end: ``summary["outcome"]`` is "succeeded" or "diverged" (then with
    "diverged_step" and "reason")."""

    summary: dict[str, Any]
