"""Learning-rate schedules: values at steps 0..N against their closed forms, and as the lr an
optimizer actually uses."""

import math

import numpy as np
import pytest

import optim_core
from optim_core import schedules

N = 300
BASE = 0.1


def values(spec):
    s = schedules.create(spec)
    return np.array([s.lr(t, BASE) for t in range(N + 1)])


def test_constant():
    np.testing.assert_array_equal(values("constant"), np.full(N + 1, BASE))


def test_step():
    expected = [BASE * 0.5 ** (t // 30) for t in range(N + 1)]
    np.testing.assert_allclose(values({"name": "step", "step_size": 30, "gamma": 0.5}), expected,
                               rtol=1e-15)


def test_exponential():
    expected = [BASE * 0.99**t for t in range(N + 1)]
    np.testing.assert_allclose(values({"name": "exponential", "gamma": 0.99}), expected,
                               rtol=1e-14)


def test_cosine_reaches_eta_min_at_t_max_and_follows_the_cosine_beyond():
    got = values({"name": "cosine", "T_max": 100, "eta_min": 0.001})
    expected = [0.001 + (BASE - 0.001) * (1 + math.cos(math.pi * t / 100)) / 2
                for t in range(N + 1)]
    np.testing.assert_allclose(got, expected, rtol=1e-14)
    assert got[0] == BASE
    assert got[100] == pytest.approx(0.001, rel=1e-12)
    assert got[200] == pytest.approx(BASE, rel=1e-12)


def test_linear_warmup_then_step():
    got = values({"name": "linear_warmup", "warmup_steps": 10, "start_factor": 0.1,
                  "then": {"name": "step", "step_size": 50, "gamma": 0.1}})
    expected = [BASE * (0.1 + 0.9 * t / 10) if t < 10 else BASE * 0.1 ** ((t - 10) // 50)
                for t in range(N + 1)]
    np.testing.assert_allclose(got, expected, rtol=1e-14)
    assert got[0] == pytest.approx(0.01)
    assert got[10] == BASE


def test_optimizer_uses_the_schedule_value_of_each_step():
    opt = optim_core.create("sgd", lr=BASE, schedule={"name": "exponential", "gamma": 0.9})
    params = {"w": np.zeros(1)}
    used = [opt.step(params, {"w": np.ones(1)}).lr for _ in range(20)]
    np.testing.assert_allclose(used, [BASE * 0.9**t for t in range(20)], rtol=1e-15)
    np.testing.assert_allclose(params["w"], [-sum(used)], rtol=1e-13)


def test_spec_round_trips():
    spec = {"name": "linear_warmup", "warmup_steps": 5, "start_factor": 0.5,
            "then": {"name": "cosine", "T_max": 10, "eta_min": 0.0}}
    assert schedules.create(spec).spec() == spec
