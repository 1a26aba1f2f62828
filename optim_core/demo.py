"""The book's chapter-6 picture in a terminal: SGD, Momentum, AdaGrad and Adam from (−7, 2) on
f(x, y) = x²/20 + y², 30 steps each. ``python -m optim_core.demo [--convention torch]``."""

from __future__ import annotations

import argparse

import numpy as np

from . import functions
from .optimizers import create
from .trajectory import trajectory

SEED_FIGURE = {"sgd": 0.95, "momentum": 0.1, "adagrad": 1.5, "adam": 0.3}  # the book's lrs
MARKS = {"sgd": "s", "momentum": "m", "adagrad": "g", "adam": "a"}
WIDTH, HEIGHT = 72, 21


def render(paths: dict[str, np.ndarray], fn: functions.TestFunction) -> str:
    """Bands between level sets of f, each path's points as its letter, the minimum as '+'."""
    points = np.concatenate(list(paths.values()))
    (x0, y0), (x1, y1) = points.min(axis=0) - 0.5, points.max(axis=0) + 0.5
    xs = np.linspace(x0, x1, WIDTH)
    ys = np.linspace(y1, y0, HEIGHT)
    levels = fn.f(xs[None, :], ys[:, None])
    bands = np.floor(np.log2(levels + 1e-2) * 2).astype(int) % 2  # alternating level bands
    grid = [[" ·"[s] for s in row] for row in bands]

    def cell(x: float, y: float) -> tuple[int, int] | None:
        col = round((x - x0) / (x1 - x0) * (WIDTH - 1))
        row = round((y1 - y) / (y1 - y0) * (HEIGHT - 1))
        return (row, col) if 0 <= row < HEIGHT and 0 <= col < WIDTH else None

    if fn.minimum and (rc := cell(*fn.minimum)):
        grid[rc[0]][rc[1]] = "+"
    for name, path in paths.items():
        for x, y in path:
            if rc := cell(x, y):
                grid[rc[0]][rc[1]] = MARKS[name]
    return "\n".join("".join(row) for row in grid)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--convention", choices=["book", "torch"], default="book")
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args(argv)
    fn = functions.get("anisotropic")
    paths = {name: trajectory(fn, create(name, lr=lr, convention=args.convention),
                              steps=args.steps)
             for name, lr in SEED_FIGURE.items()}
    print(f"f(x, y) = {fn.formula}, start {fn.start}, {args.steps} steps, "
          f"convention={args.convention}\n")
    print(render(paths, fn))
    print(f"\n{'optimizer':<13} {'lr':>5} {'x':>10} {'y':>10} {'f(x, y)':>10} {'|y| flips':>9}")
    for name, path in paths.items():
        x, y = path[-1]
        flips = int(np.count_nonzero(np.diff(np.sign(path[:, 1]))))
        print(f"{name + ' (' + MARKS[name] + ')':<13} {SEED_FIGURE[name]:>5} {x:>10.4f} "
              f"{y:>10.4f} {fn.f(x, y):>10.5f} {flips:>9}")


if __name__ == "__main__":
    main()
