"""Bad input raises ValueError (ConfigError) naming the field and the rule; non-finite
gradients are reported, not applied."""

import math

import numpy as np
import pytest

import optim_core
from optim_core import ConfigError


@pytest.mark.parametrize("kwargs,message", [
    ({"name": "adamx"}, "name: unknown optimizer 'adamx'; choose one of sgd, momentum"),
    ({"name": "adam", "lr": -1}, "lr: must be a finite number > 0, got -1"),
    ({"name": "adam", "lr": math.nan}, "lr: must be a finite number > 0, got nan"),
    ({"name": "adam", "lr": "0.1"}, "lr: must be a finite number > 0, got '0.1'"),
    ({"name": "adam", "betas": (1.0, 0.999)}, r"betas\[0\]: must be a finite number in \[0, 1\)"),
    ({"name": "adam", "betas": (0.9, -0.1)}, r"betas\[1\]: must be a finite number in \[0, 1\)"),
    ({"name": "adam", "betas": 0.9}, "betas: must be a pair of numbers, got 0.9"),
    ({"name": "adam", "beta1": 0.9}, "beta1: unknown hyperparameter for adam; allowed: amsgrad"),
    ({"name": "adam", "amsgrad": 1}, "amsgrad: must be true or false, got 1"),
    ({"name": "sgd", "momentum": 0.9, "nesterov": True, "dampening": 0.1},
     "nesterov: requires momentum > 0 and dampening = 0"),
    ({"name": "sgd", "nesterov": True}, "nesterov: requires momentum > 0"),
    ({"name": "rmsprop", "alpha": 1.5}, r"alpha: must be a finite number in \[0, 1\), got 1.5"),
    ({"name": "adagrad", "eps": -1e-10}, "eps: must be a finite number >= 0"),
    ({"name": "adam", "convention": "keras"}, "convention: must be one of torch, book"),
    ({"name": "adamw", "convention": "book"}, "convention: the book has no 'adamw'"),
    ({"name": "adam", "convention": "book", "amsgrad": True},
     "amsgrad: unknown hyperparameter for adam .not part of the book's adam"),
    ({"name": "sgd", "clip_grad_norm": 0}, "clip_grad_norm: must be a finite number > 0"),
    ({"name": "sgd", "schedule": {"name": "cosine"}}, "schedule.T_max: is required"),
    ({"name": "sgd", "schedule": {"name": "cosine", "T_max": 0}},
     "schedule.T_max: must be an integer >= 1, got 0"),
    ({"name": "sgd", "schedule": {"name": "step", "step_size": 2.5}},
     "schedule.step_size: must be an integer >= 1, got 2.5"),
    ({"name": "sgd", "schedule": {"name": "warp"}}, "schedule.name: unknown schedule 'warp'"),
    ({"name": "sgd", "schedule": {"name": "linear_warmup", "warmup_steps": 3,
                                  "then": {"name": "exponential", "gamma": 2}}},
     r"schedule.then.gamma: must be a finite number in \(0, 1\], got 2"),
])
def test_bad_hyperparameters_name_the_field_and_rule(kwargs, message):
    with pytest.raises(ValueError, match=message):
        optim_core.create(**kwargs)


def test_config_error_carries_field_and_rule():
    with pytest.raises(ConfigError) as info:
        optim_core.create("adam", betas=(0.9, 1.0))
    assert info.value.field == "betas[1]"
    assert info.value.rule == "must be a finite number in [0, 1), got 1.0"


@pytest.mark.parametrize("params,grads,message", [
    ({"w": np.zeros(2)}, {"v": np.zeros(2)},
     r"grads: must have the same keys as params; missing \['w'\], unexpected \['v'\]"),
    ({"w": np.zeros(2)}, {"w": np.zeros(3)}, r"grads\['w'\]: must have shape \(2,\)"),
    ({"w": np.zeros(2)}, {"w": np.zeros(2, np.float32)}, r"grads\['w'\]: must have dtype float64"),
    ({"w": np.zeros(2, int)}, {"w": np.zeros(2, int)}, r"params\['w'\]: must be a floating"),
    ({"w": np.zeros(2)}, {"w": [0.0, 0.0]}, r"grads\['w'\]: must have shape"),
])
def test_mismatched_params_and_grads(params, grads, message):
    with pytest.raises(ValueError, match=message):
        optim_core.create("sgd").step(params, grads)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_gradient_is_reported_and_not_applied(bad):
    opt = optim_core.create("adam", lr=0.1)
    params = {"w": np.ones(3), "b": np.ones(2)}
    opt.step(params, {"w": np.ones(3), "b": np.ones(2)})
    before = {k: v.copy() for k, v in params.items()}
    state_before = opt.state_dict()
    report = opt.step(params, {"w": np.array([1.0, bad, 1.0]), "b": np.ones(2)})
    assert not report.applied
    assert report.nonfinite == ("w",)
    assert not math.isfinite(report.grad_norm)
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])
    assert opt.steps_taken == 1
    np.testing.assert_array_equal(opt.state_dict()["state.w.exp_avg"],
                                  state_before["state.w.exp_avg"])


def test_huge_finite_float32_gradient_is_not_mistaken_for_divergence():
    opt = optim_core.create("sgd", lr=1e-30)
    params = {"w": np.zeros(4, np.float32)}
    report = opt.step(params, {"w": np.full(4, 1e30, np.float32)})
    assert report.applied
    assert report.grad_norm == pytest.approx(2e30)


def test_trajectory_rejects_unknown_function_and_bad_steps():
    with pytest.raises(ValueError, match="function: unknown test function 'himmelblau'"):
        optim_core.trajectory("himmelblau", "adam")
    with pytest.raises(ValueError, match="steps: must be an integer >= 0"):
        optim_core.trajectory("anisotropic", "adam", steps=-1)
