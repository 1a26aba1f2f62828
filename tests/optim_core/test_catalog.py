"""The catalog describes exactly what create() accepts: defaults construct, and values are
accepted inside the published bounds and rejected outside them."""

import json
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import optim_core

CATALOG = optim_core.catalog()


def test_catalog_is_json_and_lists_every_optimizer_schedule_and_function():
    assert json.loads(json.dumps(CATALOG)) == CATALOG
    assert list(CATALOG["optimizers"]) == ["sgd", "momentum", "nesterov", "adagrad", "rmsprop",
                                           "adam", "adamw"]
    assert set(CATALOG["schedules"]) == {"constant", "step", "exponential", "cosine",
                                         "linear_warmup"}
    assert set(CATALOG["functions"]) == {"anisotropic", "rosenbrock", "beale", "saddle"}
    assert CATALOG["functions"]["anisotropic"]["start"] == [-7.0, 2.0]


def test_published_defaults_are_the_defaults_create_uses():
    for name, entry in CATALOG["optimizers"].items():
        for convention in entry["conventions"]:
            key = "hyperparameters" if convention == "torch" else "book_hyperparameters"
            opt = optim_core.create(name, convention=convention)
            published = {h: tuple(d["default"]) if isinstance(d["default"], list) else d["default"]
                         for h, d in entry[key].items()}
            assert opt.hyper == published, (name, convention)


def test_torch_defaults_match_torch():
    adam = CATALOG["optimizers"]["adam"]["hyperparameters"]
    assert (adam["lr"]["default"], adam["betas"]["default"], adam["eps"]["default"]) == (
        1e-3, [0.9, 0.999], 1e-8)
    assert CATALOG["optimizers"]["adamw"]["hyperparameters"]["weight_decay"]["default"] == 1e-2
    assert CATALOG["optimizers"]["momentum"]["hyperparameters"]["momentum"]["default"] == 0.9
    nesterov = CATALOG["optimizers"]["nesterov"]["hyperparameters"]
    assert "nesterov" not in nesterov and "dampening" not in nesterov  # pinned: True and 0
    assert nesterov["momentum"]["default"] == 0.9 and nesterov["momentum"]["min_exclusive"]
    assert CATALOG["optimizers"]["sgd"]["constraints"] == [
        "nesterov requires momentum > 0 and dampening = 0"]
    assert CATALOG["optimizers"]["adagrad"]["hyperparameters"]["eps"]["default"] == 1e-10
    assert CATALOG["optimizers"]["rmsprop"]["hyperparameters"]["alpha"]["default"] == 0.99
    assert CATALOG["optimizers"]["adamw"]["conventions"] == ["torch"]


NUMERIC = [(name, h, d) for name, e in CATALOG["optimizers"].items()
           for h, d in e["hyperparameters"].items() if d["type"] == "float"]


def inside(d, u):
    """A value inside the published interval, chosen by u in [0, 1]."""
    low = d["min"] if d["min"] is not None else 0.0
    high = d["max"] if d["max"] is not None else low + 10.0
    x = low + (high - low) * u
    if d["min_exclusive"] and x <= low:
        x = np.nextafter(low, high)
    if d["max_exclusive"] and x >= high:
        x = np.nextafter(high, low)
    return float(x)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(NUMERIC), st.floats(0, 1))
def test_values_inside_published_bounds_are_accepted(case, u):
    name, h, d = case
    opt = optim_core.create(name, **{h: inside(d, u)})
    assert opt.hyper[h] == inside(d, u)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(NUMERIC), st.floats(1e-9, 1e6))
def test_values_outside_published_bounds_are_rejected_naming_the_field(case, gap):
    name, h, d = case
    for bad in ([d["min"] - gap] if d["min"] is not None else []) + \
               ([d["max"] + gap] if d["max"] is not None else []) + \
               ([d["min"]] if d["min_exclusive"] else []) + \
               ([d["max"]] if d["max_exclusive"] else []) + [math.nan, math.inf]:
        try:
            optim_core.create(name, **{h: bad})
        except ValueError as exc:
            assert str(exc).startswith(f"{h}: {d['rule']}")
        else:
            raise AssertionError(f"{name}.{h}={bad} was accepted")
