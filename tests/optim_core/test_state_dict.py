"""state_dict round trip through np.savez / np.load(allow_pickle=False): an interrupted and
resumed optimizer continues bit-identically."""

import io

import numpy as np
import pytest

import optim_core

from .reference import random_problem

SETUPS = [
    ("sgd", "torch", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("adagrad", "torch", {"lr": 0.1, "lr_decay": 0.01}),
    ("rmsprop", "torch", {"centered": True, "momentum": 0.9}),
    ("adam", "torch", {"amsgrad": True, "lr": 0.01}),
    ("adamw", "torch", {"lr": 0.01}),
    ("momentum", "book", {}),
    ("nesterov", "book", {}),
    ("adam", "book", {"lr": 0.01}),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,convention,hyper", SETUPS)
def test_resume_from_npz_is_bit_identical(name, convention, hyper, dtype):
    schedule = {"name": "step", "step_size": 7, "gamma": 0.5}
    params, grad_seq = random_problem(seed=2, steps=60, dtype=dtype)

    def make():
        return optim_core.create(name, convention=convention, schedule=schedule, **hyper)

    straight = make()
    p1 = {k: v.copy() for k, v in params.items()}
    for grads in grad_seq:
        straight.step(p1, grads)

    first = make()
    p2 = {k: v.copy() for k, v in params.items()}
    for grads in grad_seq[:23]:
        first.step(p2, grads)
    buf = io.BytesIO()
    np.savez(buf, **first.state_dict())
    buf.seek(0)
    resumed = make()
    with np.load(buf, allow_pickle=False) as saved:
        resumed.load_state_dict(saved)
    for grads in grad_seq[23:]:
        resumed.step(p2, grads)

    for k in p1:
        assert p2[k].dtype == dtype
        np.testing.assert_array_equal(p1[k], p2[k])
    assert resumed.steps_taken == straight.steps_taken == 60


def test_state_dict_is_a_copy_not_a_view():
    opt = optim_core.create("adam")
    params = {"w": np.zeros(3)}
    opt.step(params, {"w": np.ones(3)})
    sd = opt.state_dict()
    opt.step(params, {"w": np.ones(3)})
    assert sd["state.w.step"] == 1
    assert not np.shares_memory(sd["state.w.exp_avg"], opt.state["w"]["exp_avg"])


def test_loading_another_optimizers_state_is_refused():
    sd = optim_core.create("adam").state_dict()
    with pytest.raises(ValueError, match="state_dict: was saved by 'adam' \\(torch\\)"):
        optim_core.create("sgd").load_state_dict(sd)
    with pytest.raises(ValueError, match="state_dict"):
        optim_core.create("adam", convention="book").load_state_dict(sd)
