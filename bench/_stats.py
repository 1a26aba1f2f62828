"""Summaries of repeated measurements, shared by the benchmark scripts."""

from __future__ import annotations

import statistics


class Samples:
    """``median``, ``min`` and ``max`` of ``self.samples``: for the dataclasses that collect
    one measurement per repetition (a field ``samples: list[float]`` of their own)."""

    samples: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def min(self) -> float:
        return min(self.samples)

    @property
    def max(self) -> float:
        return max(self.samples)
