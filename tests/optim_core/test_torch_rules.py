"""Every optimizer and option combination, 200 float64 steps, against torch's algorithm written
plainly (tests/optim_core/reference.py) and against closed forms."""

import math

import numpy as np
import pytest

import optim_core
from optim_core.optimizers import OPTIMIZERS

from .reference import random_problem, torch_rule

CASES = [
    ("sgd", {"lr": 0.1}),
    ("sgd", {"lr": 0.1, "momentum": 0.9}),
    ("sgd", {"lr": 0.1, "momentum": 0.9, "dampening": 0.5}),
    ("sgd", {"lr": 0.1, "momentum": 0.8, "nesterov": True}),
    ("sgd", {"lr": 0.1, "weight_decay": 0.1}),
    ("sgd", {"lr": 0.1, "maximize": True}),
    ("sgd", {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01, "maximize": True}),
    ("momentum", {"lr": 0.01}),
    ("nesterov", {"lr": 0.01, "weight_decay": 0.05}),
    ("nesterov", {"lr": 0.01, "momentum": 0.5, "maximize": True}),
    ("adagrad", {}),
    ("adagrad", {"lr": 0.1, "lr_decay": 0.01}),
    ("adagrad", {"lr": 0.1, "weight_decay": 0.1, "initial_accumulator_value": 0.5}),
    ("adagrad", {"lr": 0.1, "eps": 1e-3, "maximize": True}),
    ("rmsprop", {}),
    ("rmsprop", {"lr": 0.01, "momentum": 0.9}),
    ("rmsprop", {"lr": 0.01, "centered": True}),
    ("rmsprop", {"lr": 0.01, "centered": True, "momentum": 0.5, "weight_decay": 0.01,
                 "alpha": 0.9}),
    ("adam", {}),
    ("adam", {"lr": 0.01, "amsgrad": True}),
    ("adam", {"lr": 0.01, "weight_decay": 0.1}),
    ("adam", {"lr": 0.01, "betas": (0.3, 0.9), "eps": 1e-6}),
    ("adam", {"lr": 0.01, "maximize": True, "amsgrad": True}),
    ("adamw", {}),
    ("adamw", {"lr": 0.01, "weight_decay": 0.5, "amsgrad": True}),
]


def run(opt, params, grad_seq):
    params = {k: v.copy() for k, v in params.items()}
    history = []
    for grads in grad_seq:
        report = opt.step(params, {k: g.copy() for k, g in grads.items()})
        assert report.applied
        history.append({k: v.copy() for k, v in params.items()})
    return history


def assert_histories_close(ours, ref, rtol=1e-12, atol=1e-13):
    assert len(ours) == len(ref)
    for step, (a, b) in enumerate(zip(ours, ref)):
        for k in b:
            np.testing.assert_allclose(a[k], b[k], rtol=rtol, atol=atol,
                                       err_msg=f"step {step + 1}, param {k}")


@pytest.mark.parametrize("name,hyper", CASES, ids=[f"{n}-{h}" for n, h in CASES])
def test_200_steps_match_torch_algorithm(name, hyper):
    opt = optim_core.create(name, **hyper)
    params, grad_seq = random_problem(seed=len(name) + len(hyper), steps=200)
    assert_histories_close(run(opt, params, grad_seq),
                           torch_rule(name, opt.hyper, params, grad_seq))


def test_every_optimizer_is_covered_by_the_cases():
    assert {n for n, _ in CASES} == set(OPTIMIZERS["torch"])


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam", "rmsprop"])
def test_schedule_and_clipping_match_torch_algorithm(name):
    schedule = {"name": "linear_warmup", "warmup_steps": 20,
                "then": {"name": "cosine", "T_max": 180, "eta_min": 1e-4}}
    opt = optim_core.create(name, lr=0.05, schedule=schedule, clip_grad_norm=2.0)
    params, grad_seq = random_problem(seed=3, steps=200)
    lrs = [opt.schedule.lr(t, 0.05) for t in range(200)]
    assert_histories_close(run(opt, params, grad_seq),
                           torch_rule(name, opt.hyper, params, grad_seq, lrs=lrs, clip=2.0))


def test_clipping_scales_to_the_max_norm_and_reports_the_raw_norm():
    opt = optim_core.create("sgd", lr=1.0, clip_grad_norm=1.0)
    params = {"w": np.zeros(4)}
    grads = {"w": np.array([3.0, 4.0, 0.0, 0.0])}
    report = opt.step(params, grads)
    assert report.grad_norm == 5.0
    np.testing.assert_allclose(params["w"], -np.array([0.6, 0.8, 0, 0]), rtol=1e-6)


# -- closed forms for a constant gradient c ---------------------------------------------------

C = np.array([0.5, -2.0, 3.0])


def constant_gradient_run(name, steps, **hyper):
    opt = optim_core.create(name, **hyper)
    params = {"w": np.zeros(3)}
    for _ in range(steps):
        opt.step(params, {"w": C.copy()})
    return params["w"]


def test_sgd_closed_form():
    np.testing.assert_allclose(constant_gradient_run("sgd", 200, lr=0.01), -0.01 * 200 * C,
                               rtol=1e-12)


def test_momentum_closed_form():
    mu, lr, t = 0.9, 0.01, 200
    velocity_sum = sum((1 - mu**k) / (1 - mu) for k in range(1, t + 1))
    np.testing.assert_allclose(constant_gradient_run("momentum", t, lr=lr), -lr * velocity_sum * C,
                               rtol=1e-12)


def test_adagrad_closed_form():
    lr, eps, t = 0.1, 1e-10, 200
    expected = -sum(lr * C / (math.sqrt(k) * np.abs(C) + eps) for k in range(1, t + 1))
    np.testing.assert_allclose(constant_gradient_run("adagrad", t, lr=lr), expected, rtol=1e-12)


def test_adam_closed_form():
    # bias correction makes m̂ = c and v̂ = c² exactly in exact arithmetic: each step is η·c/(|c|+ε)
    lr, eps, t = 1e-3, 1e-8, 200
    np.testing.assert_allclose(constant_gradient_run("adam", t, lr=lr),
                               -t * lr * C / (np.abs(C) + eps), rtol=1e-9)


def test_adamw_closed_form_with_zero_gradient_is_pure_decay():
    opt = optim_core.create("adamw", lr=0.1, weight_decay=0.5)
    params = {"w": np.ones(3)}
    for _ in range(50):
        opt.step(params, {"w": np.zeros(3)})
    np.testing.assert_allclose(params["w"], np.full(3, (1 - 0.1 * 0.5) ** 50), rtol=1e-12)
