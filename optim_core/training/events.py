"""What ``train`` yields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

TIMING_KEYS = frozenset({"step_time"})  # wall-clock metrics: the only non-deterministic values


@dataclass(frozen=True)
class Metrics:
    """Values recorded at ``step`` (optimizer updates done so far) in 0-based ``epoch``."""

    step: int
    epoch: int
    values: dict[str, float]


class Checkpoint:
    """An ``.npz`` blob holding everything needed to continue after ``step``.

    The training loop hands over a snapshot and ``data`` encodes it when first read (then
    keeps it): the loop yields a checkpoint every epoch, a worker uploads at most one every
    two seconds, and encoding each took a fifth of a short-epoch run. Whenever it is read,
    ``data`` is the state after ``step``."""

    __slots__ = ("step", "_data", "_encode")

    def __init__(self, data: bytes | Callable[[], bytes], step: int):
        self.step = step
        self._data, self._encode = ((data, None) if isinstance(data, bytes) else (None, data))

    @property
    def data(self) -> bytes:
        if self._data is None:
            self._data, self._encode = self._encode(), None
        return self._data

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Checkpoint) and (self.step, self.data) == (other.step,
                                                                                other.data))

    def __hash__(self) -> int:
        return hash((self.step, self.data))

    def __repr__(self) -> str:
        return f"Checkpoint(step={self.step})"


@dataclass(frozen=True)
class Finished:
    """The run's end: ``summary["outcome"]`` is "succeeded" or "diverged" (then with
    "diverged_step" and "reason")."""

    summary: dict[str, Any]
