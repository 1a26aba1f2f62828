"""Analytic gradients against central differences in float64, for every model, activation,
loss, weight decay, batch norm and dropout (with a fixed mask)."""

import numpy as np
import pytest

from optim_core import models

CASES = [
    ("mlp", {"hidden": [6, 5], "activation": "relu"}, "classification"),
    ("mlp", {"hidden": [6, 5], "activation": "sigmoid", "init": "xavier"}, "classification"),
    ("mlp", {"hidden": [6, 5], "activation": "tanh", "init": "normal", "init_std": 0.5},
     "classification"),
    ("mlp", {"hidden": [6], "activation": "tanh", "weight_decay": 0.1}, "classification"),
    ("mlp", {"hidden": [6, 5], "activation": "tanh", "batch_norm": True}, "classification"),
    ("mlp", {"hidden": [6, 5], "activation": "sigmoid", "dropout": 0.3}, "classification"),
    ("mlp", {"hidden": [7, 6], "activation": "relu", "batch_norm": True, "dropout": 0.2,
             "weight_decay": 0.01}, "classification"),
    ("mlp", {"hidden": [6], "activation": "tanh"}, "regression"),
    ("logistic", {"weight_decay": 0.05}, "classification"),
    ("linear", {}, "regression"),
]


def numerical_grads(model, x, t, seed):
    grads = {}
    h = 1e-6
    for name, p in model.params.items():
        g = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            old = p[i]
            p[i] = old + h
            up, _ = model.loss_and_grads(x, t, rng=np.random.default_rng(seed))
            p[i] = old - h
            down, _ = model.loss_and_grads(x, t, rng=np.random.default_rng(seed))
            p[i] = old
            g[i] = (up - down) / (2 * h)
        grads[name] = g
    return grads


@pytest.mark.parametrize("kind,options,task", CASES,
                         ids=[f"{k}-{t}-{o}" for k, o, t in CASES])
def test_analytic_gradients_match_central_differences(kind, options, task):
    rng = np.random.default_rng(42)
    n, d, k = 8, 5, 3
    x = rng.standard_normal((n, d))
    t = rng.integers(0, k, n) if task == "classification" else rng.standard_normal((n, 1))
    model = models.create(kind, input_dim=d, output_dim=k if task == "classification" else 1,
                          dtype="float64", seed=3, task=task, **options)
    # biases start at zero; move them so their gradients are generic
    for name, p in model.params.items():
        p += rng.standard_normal(p.shape) * 0.1
    _, analytic = model.loss_and_grads(x, t, rng=np.random.default_rng(7))
    numeric = numerical_grads(model, x, t, seed=7)
    assert analytic.keys() == model.params.keys()
    for name in model.params:
        a, b = analytic[name], numeric[name]
        err = np.linalg.norm(a - b)
        rel = err / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-12)
        # a bias right before batch norm has a gradient of exactly zero: compare absolutely
        assert rel < 1e-6 or err < 1e-8, f"{name}: relative error {rel:.2e}, absolute {err:.1e}"


def test_point_model_gradient_is_the_functions_gradient():
    model = models.create("point", function="beale", start=(1.2, -0.4))
    f0, grads = model.loss_and_grads()
    h = 1e-6
    for name in ("x", "y"):
        model.params[name] += h
        up, _ = model.loss_and_grads()
        model.params[name] -= 2 * h
        down, _ = model.loss_and_grads()
        model.params[name] += h
        assert grads[name] == pytest.approx((up - down) / (2 * h), rel=1e-6)


def test_softmax_cross_entropy_is_stable_for_huge_logits():
    from optim_core.models.losses import softmax_cross_entropy
    logits = np.array([[1000.0, 0.0, -1000.0], [0.0, 1e4, 0.0]])
    loss, grad = softmax_cross_entropy(logits, np.array([0, 0]))
    assert np.isfinite(loss) and np.isfinite(grad).all()
    assert loss == pytest.approx(1e4 / 2)


def test_dropout_is_off_at_inference_and_batch_norm_uses_running_stats():
    model = models.create("mlp", input_dim=4, output_dim=2, hidden=[8], dropout=0.5,
                          batch_norm=True, dtype="float64")
    x = np.random.default_rng(0).standard_normal((16, 4))
    first = model.predict(x)
    np.testing.assert_array_equal(first, model.predict(x))  # no randomness at inference
    model.loss_and_grads(x, np.zeros(16, int), rng=np.random.default_rng(0))
    assert not np.array_equal(first, model.predict(x))  # the running statistics moved
