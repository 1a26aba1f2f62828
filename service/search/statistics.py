"""The statistics of a fair comparison of optimizers: each optimizer's objective over its final
seeds as mean ± std with a t-based 95 % interval, a ranking, and for each pair of optimizers
Welch's t-test with Holm's correction for the number of pairs. SciPy computes; this module
decides what degenerate samples mean, so that no undefined p-value is ever called significant.
"""

from __future__ import annotations

import itertools
import math
import statistics
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scipy import stats

ALPHA = 0.05  # the family-wise error rate of the pairwise tests
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Summary:
    """One optimizer's final objective values, summarised."""

    mean: float
    std: float  # the sample standard deviation (n − 1); 0 for one value
    ci95: tuple[float, float] | None  # Student's t interval of the mean; None below 2 values
    n: int


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    p_value: float | None  # Welch's two-sided p; None when the test is undefined
    p_holm: float | None  # Holm-adjusted over every defined pair
    significant: bool


def summarise(values: Sequence[float]) -> Summary:
    """Mean, std and the t-based interval of the finite ``values`` (ValueError if none)."""
    finite = [float(v) for v in values if math.isfinite(v)]
    if not finite:
        raise ValueError("no finite value to summarise")
    n, mean = len(finite), statistics.fmean(finite)
    if n < 2:
        return Summary(mean, 0.0, None, n)
    std = statistics.stdev(finite)
    if len(set(finite)) == 1:
        return Summary(mean, 0.0, (mean, mean), n)
    low, high = stats.t.interval(CONFIDENCE, n - 1, loc=mean, scale=std / math.sqrt(n))
    return Summary(mean, std, (float(low), float(high)), n)


def welch_p(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Welch's two-sided t-test p-value of ``a`` against ``b``. Undefined (None) with fewer
    than two values on a side, or when both sides have no spread: then the test cannot tell
    a difference from noise, however large it looks."""
    a = [float(v) for v in a if math.isfinite(v)]
    b = [float(v) for v in b if math.isfinite(v)]
    if len(a) < 2 or len(b) < 2:
        return None
    if len(set(a)) == 1 and len(set(b)) == 1:
        return 1.0 if a[0] == b[0] else None
    with warnings.catch_warnings():  # near-identical samples: SciPy warns, the p is still right
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    return None if math.isnan(p) else p


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment of the defined p-values (None stays None and does not count
    towards the number of tests): the k-th smallest of m is multiplied by m − k + 1, and the
    adjusted values are made non-decreasing in that order, capped at 1."""
    defined = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for k, (p, i) in enumerate(defined):
        running = max(running, min(1.0, (len(defined) - k) * p))
        adjusted[i] = running
    return adjusted


def pairs(finals: Mapping[str, Sequence[float]], alpha: float = ALPHA) -> list[Pair]:
    """Every pair of optimizers (in the mapping's order), tested and Holm-corrected."""
    names = list(finals)
    combos = list(itertools.combinations(names, 2))
    raw = [welch_p(finals[a], finals[b]) for a, b in combos]
    return [Pair(a, b, p, q, q is not None and q <= alpha)
            for (a, b), p, q in zip(combos, raw, holm(raw))]


def ranks(means: Mapping[str, float], mode: str) -> dict[str, int]:
    """1 for the best mean (lowest for ``min``, highest for ``max``); equal means share a rank
    and the next rank skips (1, 1, 3)."""
    better = (lambda x: x) if mode == "min" else (lambda x: -x)
    ordered = sorted(means, key=lambda name: better(means[name]))
    out: dict[str, int] = {}
    for position, name in enumerate(ordered, start=1):
        previous = ordered[position - 2] if position > 1 else None
        tied = previous is not None and means[previous] == means[name]
        out[name] = out[previous] if tied else position
    return out
