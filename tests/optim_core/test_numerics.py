"""dtype preservation, in-place updates without per-step allocation, and divergence on the
2-D functions."""

import tracemalloc

import numpy as np
import pytest

import optim_core
from optim_core.optimizers import OPTIMIZERS

ALL = [(n, c) for c in ("torch", "book") for n in OPTIMIZERS[c]]


@pytest.mark.parametrize("name,convention", ALL)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_updates_in_place_keeping_dtype(name, convention, dtype):
    opt = optim_core.create(name, convention=convention)
    rng = np.random.default_rng(0)
    params = {"W": rng.standard_normal((4, 3)).astype(dtype), "b": np.zeros(3, dtype)}
    arrays = {k: v for k, v in params.items()}
    before = {k: v.copy() for k, v in params.items()}
    for _ in range(3):
        grads = {k: rng.standard_normal(v.shape).astype(dtype) for k, v in params.items()}
        opt.step(params, grads)
    for k in params:
        assert params[k] is arrays[k]
        assert params[k].dtype == dtype
        assert not np.array_equal(params[k], before[k])
    for key, slots in opt.state.items():
        for slot, value in slots.items():
            if isinstance(value, np.ndarray):
                assert value.dtype == dtype, (key, slot)


@pytest.mark.parametrize("name,convention", ALL)
def test_a_step_allocates_nothing_proportional_to_the_parameters(name, convention):
    opt = optim_core.create(name, convention=convention, clip_grad_norm=1.0,
                            schedule={"name": "cosine", "T_max": 10})
    rng = np.random.default_rng(0)
    params = {f"p{i}": rng.standard_normal(50_000).astype(np.float32) for i in range(4)}
    grads = {k: rng.standard_normal(v.shape).astype(np.float32) for k, v in params.items()}
    opt.step(params, grads)  # the first step creates the state and the scratch buffers
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        for _ in range(3):
            opt.step(params, grads)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    param_bytes = sum(v.nbytes for v in params.values())
    assert peak - base < 0.01 * param_bytes


def test_saddle_diverges_and_trajectory_stops_at_the_last_finite_point():
    path = optim_core.trajectory("saddle", optim_core.create("sgd", lr=0.9), steps=2000)
    assert len(path) < 2001
    assert np.isfinite(path).all()
    assert abs(path[-1, 1]) > 1e100


def test_every_optimizer_approaches_the_rosenbrock_minimum_direction():
    start = optim_core.functions.get("rosenbrock").start
    f = optim_core.functions.get("rosenbrock").f
    for name in OPTIMIZERS["torch"]:
        path = optim_core.trajectory("rosenbrock", optim_core.create(name, lr=1e-3), steps=500)
        assert f(*path[-1]) < f(*start), name
