"""The catalog: every optimizer, schedule and test function with each hyperparameter's type,
default, bounds and meaning. The service validates requests with it and the dashboard builds
its forms from it; it is derived from the same ``Hyper`` objects that ``create`` enforces."""

from __future__ import annotations

from typing import Any

from . import datasets, functions, schedules
from .models import MODEL_SPECS, MODEL_TASKS
from .optimizers import CLIP_GRAD_NORM, CONVENTIONS, OPTIMIZERS
from .training.config import TOP_LEVEL


def catalog() -> dict[str, Any]:
    """A JSON-ready description of everything optim_core can build."""
    return {
        "optimizers": {name: _optimizer_entry(name) for name in OPTIMIZERS["torch"]},
        "options": {
            "convention": {"type": "choice", "choices": list(CONVENTIONS), "default": "torch",
                           "doc": "torch: torch.optim's update rules; book: the book's "
                                  "common/optimizer.py"},
            "schedule": {"type": "schedule", "default": {"name": "constant"},
                         "doc": "learning-rate schedule, one of the schedules below"},
            "clip_grad_norm": CLIP_GRAD_NORM.describe(),
        },
        "schedules": {
            name: {"doc": _first_line(cls.__doc__),
                   "hyperparameters": {h: spec.describe() for h, spec in cls.HYPERS.items()},
                   **({"then": {"type": "schedule", "default": {"name": "constant"},
                                "doc": "schedule that follows the warmup"}}
                      if cls is schedules.LinearWarmup else {})}
            for name, cls in schedules.SCHEDULES.items()
        },
        "functions": {name: fn.describe() for name, fn in functions.FUNCTIONS.items()},
        "models": {kind: {"tasks": list(MODEL_TASKS[kind]),
                          "options": {k: h.describe() for k, h in spec.items()}}
                   for kind, spec in MODEL_SPECS.items()},
        "datasets": datasets.describe(),
        "training": {k: h.describe() for k, h in TOP_LEVEL.items()},
    }


def _optimizer_entry(name: str) -> dict[str, Any]:
    torch_cls = OPTIMIZERS["torch"][name]
    entry: dict[str, Any] = {
        "doc": _first_line(torch_cls.__doc__),
        "conventions": [c for c in CONVENTIONS if name in OPTIMIZERS[c]],
        "hyperparameters": {h: spec.describe() for h, spec in torch_cls.HYPERS.items()},
        "constraints": list(torch_cls.CONSTRAINTS),
    }
    if name in OPTIMIZERS["book"]:
        entry["book_hyperparameters"] = {h: spec.describe("book")
                                         for h, spec in torch_cls.HYPERS.items() if spec.in_book}
    return entry


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0]
