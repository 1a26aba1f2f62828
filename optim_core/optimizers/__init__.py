"""Optimizers by name: ``create("adam", lr=1e-3)``.

Each name has a torch-convention rule and, where the book has one, a book-convention rule.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from ..hyperparams import FLOAT, Hyper, validate
from ..schedules import Schedule
from ..schedules import create as create_schedule
from .adam import Adam, AdamW
from .adaptive import Adagrad, RMSprop
from .base import Optimizer, StepReport, global_norm
from .book import BookAdaGrad, BookAdam, BookMomentum, BookNesterov, BookRMSprop, BookSGD
from .sgd import SGD, Momentum, Nesterov

CONVENTIONS = ("torch", "book")

OPTIMIZERS: dict[str, dict[str, type[Optimizer]]] = {
    "torch": {c.name: c for c in (SGD, Momentum, Nesterov, Adagrad, RMSprop, Adam, AdamW)},
    "book": {c.name: c for c in (BookSGD, BookMomentum, BookNesterov, BookAdaGrad, BookRMSprop,
                                 BookAdam)},
}

CLIP_GRAD_NORM = Hyper("clip_grad_norm", FLOAT, None,
                       "rescale gradients so that their global L2 norm is at most this",
                       low=0, low_open=True)


def create(name: str, *, convention: str = "torch",
           schedule: str | dict[str, Any] | Schedule | None = None,
           clip_grad_norm: float | None = None, **hyperparameters: Any) -> Optimizer:
    """Create an optimizer by name with torch's hyperparameter names and defaults.

    ``convention="book"`` selects the book's formulas; ``schedule`` a learning-rate schedule
    (see optim_core.schedules); ``clip_grad_norm`` clips gradients by global norm. Unknown names
    and values outside their rule raise ConfigError (a ValueError) naming the field.
    """
    if convention not in CONVENTIONS:
        raise ConfigError("convention", f"must be one of {', '.join(CONVENTIONS)}, "
                                        f"got {convention!r}")
    if name not in OPTIMIZERS["torch"]:
        raise ConfigError("name", f"unknown optimizer {name!r}; choose one of "
                                  f"{', '.join(OPTIMIZERS['torch'])}")
    cls = OPTIMIZERS[convention].get(name)
    if cls is None:
        raise ConfigError("convention", f"the book has no {name!r}; use convention 'torch'")
    hyper = validate(cls.HYPERS, hyperparameters, name, convention)
    clip = None if clip_grad_norm is None else CLIP_GRAD_NORM.check(clip_grad_norm)
    return cls(hyper, schedule=create_schedule(schedule) if schedule is not None else None,
               clip_grad_norm=clip)


__all__ = ["CONVENTIONS", "OPTIMIZERS", "Optimizer", "StepReport", "create", "global_norm"]
