"""The statistics of optimizer comparisons against SciPy and against the definitions: t-based
intervals, Welch's t-test, Holm's correction, ranks; degenerate samples (ties, identical values,
too few values) never give a NaN p-value or a significant difference."""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from service.search.statistics import ALPHA, holm, pairs, ranks, summarise, welch_p

@contextmanager
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


# objective values as runs produce them: positive, finite, often close together
VALUE = st.floats(0.01, 3.0, allow_nan=False, allow_infinity=False)
SAMPLE = st.lists(VALUE, min_size=2, max_size=8)


@settings(max_examples=200, deadline=None)
@given(SAMPLE)
def test_the_interval_is_students_t_interval_of_the_mean(values):
    summary = summarise(values)
    assert summary.n == len(values)
    assert summary.mean == pytest.approx(sum(values) / len(values))
    with _quiet():  # SciPy warns on nearly identical values
        assert summary.std == pytest.approx(stats.tstd(values), abs=1e-12)
    if summary.std == 0:
        assert summary.ci95 == (summary.mean, summary.mean)
        return
    low, high = stats.t.interval(0.95, len(values) - 1, loc=summary.mean,
                                 scale=stats.sem(values))
    assert summary.ci95 == (pytest.approx(low), pytest.approx(high))
    assert summary.ci95[0] <= summary.mean <= summary.ci95[1]


def test_one_value_has_no_interval_and_non_finite_values_are_left_out():
    assert summarise([0.5]).ci95 is None and summarise([0.5]).std == 0.0
    assert summarise([0.5, math.inf, math.nan, 0.7]).n == 2
    with pytest.raises(ValueError):
        summarise([math.nan, math.inf])


@settings(max_examples=200, deadline=None)
@given(SAMPLE, SAMPLE)
def test_welch_equals_scipy_whenever_the_test_is_defined(a, b):
    p = welch_p(a, b)
    if len(set(a)) == 1 and len(set(b)) == 1:  # no spread on either side: SciPy says 0 or NaN
        assert p == (1.0 if a[0] == b[0] else None)
        return
    with _quiet():
        expected = stats.ttest_ind(a, b, equal_var=False).pvalue
    assert p == pytest.approx(expected) and 0.0 <= p <= 1.0


def test_degenerate_samples_never_give_nan_or_a_significant_difference():
    assert welch_p([0.2, 0.2, 0.2], [0.2, 0.2]) == 1.0  # identical: no difference at all
    assert welch_p([0.2, 0.2, 0.2], [0.3, 0.3, 0.3]) is None  # no spread: undefined
    assert welch_p([0.2], [0.3, 0.4]) is None  # one value: undefined
    result = pairs({"sgd": [0.2, 0.2, 0.2], "adam": [0.3, 0.3, 0.3], "adagrad": [0.2, 0.2]})
    assert [(r.a, r.b, r.p_value, r.significant) for r in result] == [
        ("sgd", "adam", None, False), ("sgd", "adagrad", 1.0, False),
        ("adam", "adagrad", None, False)]


def holm_by_definition(p_values: list[float], alpha: float) -> list[bool]:
    """Holm's procedure as written: reject the smallest p while p_(k) <= alpha / (m - k + 1),
    stop at the first that is not."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    rejected = [False] * len(p_values)
    for k, i in enumerate(order):
        if p_values[i] > alpha / (len(p_values) - k):
            break
        rejected[i] = True
    return rejected


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=10))
def test_holm_rejects_exactly_what_the_procedure_rejects(p_values):
    adjusted = holm(p_values)
    assert [q <= ALPHA for q in adjusted] == holm_by_definition(p_values, ALPHA)
    assert all(q >= p for p, q in zip(p_values, adjusted)) and max(adjusted) <= 1.0


def test_holm_leaves_undefined_p_values_out_of_the_count():
    assert holm([0.01, None, 0.04]) == [pytest.approx(0.02), None, pytest.approx(0.04)]


def test_a_clear_difference_is_significant_after_the_correction():
    finals = {"adam": [0.101, 0.103, 0.099, 0.102, 0.100],
              "sgd": [0.201, 0.198, 0.203, 0.199, 0.202],
              "momentum": [0.1015, 0.1005, 0.103, 0.099, 0.1012]}
    result = {(r.a, r.b): r for r in pairs(finals)}
    assert result["adam", "sgd"].significant and result["sgd", "momentum"].significant
    assert not result["adam", "momentum"].significant
    raw = [r.p_value for r in result.values()]
    assert [r.p_holm for r in result.values()] == pytest.approx(
        [q for q in holm(raw)])


def test_ranks_follow_the_mode_and_ties_share_a_rank():
    means = {"sgd": 0.3, "momentum": 0.2, "adagrad": 0.2, "adam": 0.1}
    assert ranks(means, "min") == {"adam": 1, "momentum": 2, "adagrad": 2, "sgd": 4}
    assert ranks(means, "max") == {"sgd": 1, "momentum": 2, "adagrad": 2, "adam": 4}
