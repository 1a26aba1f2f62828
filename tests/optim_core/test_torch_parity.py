"""Parity with torch.optim and torch.optim.lr_scheduler themselves. torch is not a dependency of
optrack: this module runs where torch happens to be installed and is skipped elsewhere."""

import numpy as np
import pytest

import optim_core

from .reference import random_problem
from .test_torch_rules import CASES

torch = pytest.importorskip("torch", reason="torch is not installed (it is never a dependency)")

TORCH_CLASSES = {
    "sgd": (torch.optim.SGD, {}),
    "momentum": (torch.optim.SGD, {"momentum": 0.9}),
    "nesterov": (torch.optim.SGD, {"momentum": 0.9, "nesterov": True}),
    "adagrad": (torch.optim.Adagrad, {}),
    "rmsprop": (torch.optim.RMSprop, {}),
    "adam": (torch.optim.Adam, {}),
    "adamw": (torch.optim.AdamW, {}),
}


def torch_run(name, hyper, params, grad_seq, dtype, clip=None, scheduler=None):
    cls, base = TORCH_CLASSES[name]
    tensors = {k: torch.tensor(v, dtype=dtype, requires_grad=True) for k, v in params.items()}
    opt = cls(list(tensors.values()), **{**base, **hyper}, foreach=False)
    sched = scheduler(opt) if scheduler else None
    history = []
    for grads in grad_seq:
        for k, t in tensors.items():
            t.grad = torch.tensor(grads[k], dtype=dtype)
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(list(tensors.values()), clip, foreach=False)
        opt.step()
        if sched:
            sched.step()
        history.append({k: t.detach().numpy().copy() for k, t in tensors.items()})
    return history


def ours_run(name, hyper, params, grad_seq, **kw):
    opt = optim_core.create(name, **hyper, **kw)
    params = {k: v.copy() for k, v in params.items()}
    history = []
    for grads in grad_seq:
        opt.step(params, {k: g.copy() for k, g in grads.items()})
        history.append({k: v.copy() for k, v in params.items()})
    return history


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name,hyper", CASES, ids=[f"{n}-{h}" for n, h in CASES])
def test_matches_torch_optim(name, hyper, dtype):
    params, grad_seq = random_problem(seed=7, steps=200, dtype=np.dtype(dtype))
    hyper = {"lr": 1e-2, **hyper}
    ours = ours_run(name, hyper, params, grad_seq)
    theirs = torch_run(name, hyper, params, grad_seq, getattr(torch, dtype))
    # float64: agreement to rounding; float32: single-precision rounding over 200 steps
    rtol, atol = (1e-11, 1e-12) if dtype == "float64" else (2e-4, 2e-5)
    for step in (0, 9, 99, 199):
        for k in params:
            np.testing.assert_allclose(ours[step][k], theirs[step][k], rtol=rtol, atol=atol,
                                       err_msg=f"{name} step {step + 1} {k}")


def test_first_float32_adam_step_is_bit_identical():
    # torch's SGD-style `add(alpha=…)` uses a fused multiply-add, which NumPy has not, so
    # float32 SGD differs in the last bit; Adam's first step has no such operation.
    params, grad_seq = random_problem(seed=1, steps=1, dtype=np.float32)
    ours = ours_run("adam", {"lr": 1e-3}, params, grad_seq)
    theirs = torch_run("adam", {"lr": 1e-3}, params, grad_seq, torch.float32)
    for k in params:
        np.testing.assert_array_equal(ours[0][k], theirs[0][k])


def test_clipping_matches_clip_grad_norm():
    params, grad_seq = random_problem(seed=4, steps=100)
    ours = ours_run("momentum", {"lr": 0.05}, params, grad_seq, clip_grad_norm=1.5)
    theirs = torch_run("momentum", {"lr": 0.05}, params, grad_seq, torch.float64, clip=1.5)
    for k in params:
        np.testing.assert_allclose(ours[-1][k], theirs[-1][k], rtol=1e-11, atol=1e-12)


SCHEDULES = [
    ({"name": "step", "step_size": 7, "gamma": 0.5},
     lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=7, gamma=0.5)),
    ({"name": "exponential", "gamma": 0.97},
     lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.97)),
    ({"name": "cosine", "T_max": 40, "eta_min": 1e-3},
     lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=40, eta_min=1e-3)),
    ({"name": "linear_warmup", "warmup_steps": 10, "start_factor": 0.25,
      "then": {"name": "cosine", "T_max": 50}},
     lambda o: torch.optim.lr_scheduler.SequentialLR(o, [
         torch.optim.lr_scheduler.LinearLR(o, start_factor=0.25, total_iters=10),
         torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=50)], milestones=[10])),
]


@pytest.mark.parametrize("spec,make", SCHEDULES, ids=[s["name"] for s, _ in SCHEDULES])
def test_schedules_match_lr_scheduler_at_every_step(spec, make):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = make(opt)
    theirs = []
    for _ in range(120):
        theirs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    schedule = optim_core.schedules.create(spec)
    ours = [schedule.lr(t, 0.1) for t in range(120)]
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-15)
