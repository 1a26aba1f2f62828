"""Optimizer paths on a 2-D test function, the book's chapter-6 picture."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import functions
from .errors import ConfigError
from .optimizers import Optimizer, create


def trajectory(function: str | functions.TestFunction, optimizer: str | dict[str, Any] | Optimizer,
               start: tuple[float, float] | None = None, steps: int = 30) -> np.ndarray:
    """The points (x, y) visited in ``steps`` updates from ``start``: shape (n, 2), float64,
    with the start first. Stops early, after the last finite point, if the gradient stops
    being finite (the path diverged).

    ``optimizer`` is an Optimizer, a name, or ``{"name": …, **create_kwargs}``. As in the book,
    x and y are two separate parameters ``{"x": …, "y": …}``.
    """
    fn = functions.get(function)
    opt = _as_optimizer(optimizer)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ConfigError("steps", f"must be an integer >= 0, got {steps!r}")
    x0, y0 = fn.start if start is None else start
    params = {"x": np.array(float(x0)), "y": np.array(float(y0))}
    points = [(float(params["x"]), float(params["y"]))]
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(steps):
            gx, gy = fn.grad(params["x"], params["y"])
            grads = {"x": np.array(gx, dtype=np.float64), "y": np.array(gy, dtype=np.float64)}
            if not opt.step(params, grads).applied:
                break
            point = (float(params["x"]), float(params["y"]))
            if not all(np.isfinite(point)):
                break
            points.append(point)
    return np.array(points, dtype=np.float64)


def _as_optimizer(optimizer: str | dict[str, Any] | Optimizer) -> Optimizer:
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str):
        return create(optimizer)
    if isinstance(optimizer, dict) and "name" in optimizer:
        spec = dict(optimizer)
        return create(spec.pop("name"), **spec)
    raise ConfigError("optimizer", f"must be an optimizer, a name or an object with a name, "
                                   f"got {optimizer!r}")
