"""Models by kind: ``models.create("mlp", input_dim=64, hidden=[100, 100], output_dim=10)``.

    mlp        Affine → [BatchNorm] → activation → [Dropout] … → Affine → loss
    logistic   softmax regression (an mlp without hidden layers, cross-entropy)
    linear     least squares (an mlp without hidden layers, mean squared error)
    point      a 2-D test function; the parameters are the point (x, y)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from ..functions import FUNCTIONS
from ..hyperparams import BOOL, CHOICE, FLOAT, FLOAT_PAIR, INT, INT_LIST, Hyper, validate
from .mlp import ACTIVATIONS, MLP
from .point import PointModel

_DIMS = {
    "input_dim": Hyper("input_dim", INT, None, "features per example (set from the dataset)",
                       low=1, required=True),
    "output_dim": Hyper("output_dim", INT, None, "classes, or regression targets (set from the "
                                                 "dataset)", low=1, required=True),
}
_COMMON = {
    "init": Hyper("init", CHOICE, "he", "weight initialisation: he √(2/n), xavier √(1/n), or "
                                        "normal(init_std)", choices=("he", "xavier", "normal")),
    "init_std": Hyper("init_std", FLOAT, 0.01, "standard deviation for init=normal", low=0,
                      low_open=True),
    "weight_decay": Hyper("weight_decay", FLOAT, 0.0, "L2 penalty ½λΣ‖W‖² on the weights "
                                                      "(the book's coupled weight decay)", low=0),
    "dtype": Hyper("dtype", CHOICE, "float32", "floating-point precision",
                   choices=("float32", "float64")),
}
_HIDDEN = {
    "hidden": Hyper("hidden", INT_LIST, [100, 100], "sizes of the hidden layers", low=1,
                    high=100_000),
    "activation": Hyper("activation", CHOICE, "relu", "hidden-layer activation",
                        choices=tuple(ACTIVATIONS)),
    "dropout": Hyper("dropout", FLOAT, 0.0, "probability of dropping a hidden unit in training",
                     low=0, high=1, high_open=True),
    "batch_norm": Hyper("batch_norm", BOOL, False, "batch normalisation after each hidden "
                                                   "affine layer"),
}

MODEL_SPECS: dict[str, dict[str, Hyper]] = {
    "mlp": {**_DIMS, **_HIDDEN, **_COMMON},
    "logistic": {**_DIMS, **_COMMON},
    "linear": {**_DIMS, **_COMMON},
    "point": {
        "function": Hyper("function", CHOICE, "anisotropic", "the 2-D test function",
                          choices=tuple(FUNCTIONS)),
        "start": Hyper("start", FLOAT_PAIR, None, "starting point (x, y); default: the "
                                                  "function's customary start"),
    },
}
MODEL_TASKS = {"mlp": ("classification", "regression"), "logistic": ("classification",),
               "linear": ("regression",), "point": ()}


def check(kind: str, task: str, options: dict[str, Any]) -> dict[str, Any]:
    """Validate a model's options without building it; returns them with defaults filled."""
    if kind not in MODEL_SPECS:
        raise ConfigError("kind", f"unknown model {kind!r}; choose one of {', '.join(MODEL_SPECS)}")
    values = validate(MODEL_SPECS[kind], options, f"model {kind!r}")
    if kind != "point" and task not in MODEL_TASKS[kind]:
        raise ConfigError("kind", f"model {kind!r} cannot learn a {task} task; use "
                                  f"{'linear or mlp' if task == 'regression' else 'logistic or mlp'}")
    return values


def create(kind: str, *, seed: int = 0, rng: np.random.Generator | None = None,
           task: str = "classification", **options: Any):
    """Build a model. Weights are drawn from ``rng`` if given, else from a Generator seeded with
    ``seed``. ``task`` picks the mlp's loss: cross-entropy (classification) or MSE
    (regression). Raises ConfigError naming the field."""
    values = check(kind, task, options)
    if kind == "point":
        return PointModel(values["function"], values["start"])
    rng = np.random.default_rng(seed) if rng is None else rng
    return MLP(input_dim=values["input_dim"], output_dim=values["output_dim"],
               hidden=values.get("hidden", []), activation=values.get("activation", "relu"),
               init=values["init"], init_std_value=values["init_std"],
               weight_decay=values["weight_decay"], dropout=values.get("dropout", 0.0),
               batch_norm=values.get("batch_norm", False),
               loss="cross_entropy" if task == "classification" else "mse",
               dtype=np.dtype(values["dtype"]), rng=rng)


__all__ = ["MLP", "MODEL_SPECS", "PointModel", "check", "create"]
