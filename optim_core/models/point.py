"""A 2-D test function as a "model" whose parameters are the point (x, y), so a training run
can be the book's trajectory experiment and record x, y and f per step."""

from __future__ import annotations

import numpy as np

from .. import functions


class PointModel:
    """params = {"x": 0-d array, "y": 0-d array}; the loss is f(x, y)."""

    buffers: dict[str, np.ndarray] = {}

    def __init__(self, function: str, start: tuple[float, float] | None = None):
        self.function = functions.get(function)
        x0, y0 = self.function.start if start is None else start
        self.params = {"x": np.array(float(x0)), "y": np.array(float(y0))}
        self.buffers = {}

    def loss_and_grads(self, x=None, t=None, rng=None) -> tuple[float, dict[str, np.ndarray]]:
        px, py = self.params["x"], self.params["y"]
        gx, gy = self.function.grad(px, py)
        return float(self.function.f(px, py)), {"x": np.array(gx, dtype=np.float64),
                                                "y": np.array(gy, dtype=np.float64)}

    def position(self) -> dict[str, float]:
        x, y = float(self.params["x"]), float(self.params["y"])
        return {"x": x, "y": y, "f": float(self.function.f(x, y))}
