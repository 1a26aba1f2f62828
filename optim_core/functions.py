"""2-D test functions for optimizer trajectory pictures.

``anisotropic`` is the book's f(x, y) = x²/20 + y² (chapter 6; start (−7, 2)): its gradient is
twenty times steeper in y than in x, so plain SGD zig-zags in y while crawling along x.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .errors import ConfigError

Vec2 = tuple[float, float]


@dataclass(frozen=True)
class TestFunction:
    """f(x, y) with its gradient, a customary start, the minimum (if any) and a plot window."""

    name: str
    formula: str
    f: Callable[[np.ndarray, np.ndarray], np.ndarray]
    grad: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
    start: Vec2
    minimum: Vec2 | None
    x_range: Vec2
    y_range: Vec2

    def describe(self) -> dict:
        return {"formula": self.formula, "start": list(self.start),
                "minimum": list(self.minimum) if self.minimum else None,
                "x_range": list(self.x_range), "y_range": list(self.y_range)}


def _beale_terms(x, y):
    return (1.5 - x + x * y, 2.25 - x + x * y**2, 2.625 - x + x * y**3)


def _beale_grad(x, y):
    a, b, c = _beale_terms(x, y)
    dx = 2 * a * (y - 1) + 2 * b * (y**2 - 1) + 2 * c * (y**3 - 1)
    dy = 2 * a * x + 2 * b * 2 * x * y + 2 * c * 3 * x * y**2
    return dx, dy


FUNCTIONS: dict[str, TestFunction] = {
    fn.name: fn for fn in (
        TestFunction("anisotropic", "x²/20 + y²",
                     lambda x, y: x**2 / 20.0 + y**2,
                     lambda x, y: (x / 10.0, 2.0 * y),
                     start=(-7.0, 2.0), minimum=(0.0, 0.0), x_range=(-10, 10), y_range=(-5, 5)),
        TestFunction("rosenbrock", "(1 − x)² + 100(y − x²)²",
                     lambda x, y: (1 - x) ** 2 + 100 * (y - x**2) ** 2,
                     lambda x, y: (-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)),
                     start=(-1.5, 2.0), minimum=(1.0, 1.0), x_range=(-2, 2), y_range=(-1, 3)),
        TestFunction("beale", "(1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)²",
                     lambda x, y: sum(t**2 for t in _beale_terms(x, y)),
                     _beale_grad,
                     start=(1.0, 1.5), minimum=(3.0, 0.5), x_range=(-4.5, 4.5),
                     y_range=(-4.5, 4.5)),
        TestFunction("saddle", "x² − y²",
                     lambda x, y: x**2 - y**2,
                     lambda x, y: (2 * x, -2 * y),
                     start=(-1.5, 0.01), minimum=None, x_range=(-2, 2), y_range=(-2, 2)),
    )
}


def get(name: str | TestFunction) -> TestFunction:
    """The test function called ``name``; ConfigError naming the choices otherwise."""
    if isinstance(name, TestFunction):
        return name
    if name not in FUNCTIONS:
        raise ConfigError("function", f"unknown test function {name!r}; choose one of "
                                      f"{', '.join(FUNCTIONS)}")
    return FUNCTIONS[name]
