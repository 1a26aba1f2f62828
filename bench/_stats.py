"""Summaries of repeated measurements, shared by the benchmark scripts."""

from __future__ import annotations

import math
import statistics


def quantile(values: list[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default)."""
    xs = sorted(values)
    pos = (len(xs) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


class Samples:
    """``median``, ``min``, ``max`` and ``quantile`` of ``self.samples``: for the dataclasses
    that collect one measurement per repetition (a field ``samples: list[float]`` of their
    own)."""

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

    def quantile(self, q: float) -> float:
        """q in [0, 1]: 0.9 is p90."""
        return quantile(self.samples, q)
