"""The contenders of bench.optimizer_step: optim_core's fused and NumPy paths and torch.optim's
single-tensor, foreach and fused paths, each on its own copy of the same parameters."""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import optim_core
from bench._stats import Samples
from optim_core import kernels

# optim_core's name → torch.optim's class name and the options that make it the same rule
TORCH_RULES: dict[str, tuple[str, dict]] = {
    "sgd": ("SGD", {}),
    "momentum": ("SGD", {"momentum": 0.9}),
    "nesterov": ("SGD", {"momentum": 0.9, "nesterov": True}),
    "adagrad": ("Adagrad", {}),
    "rmsprop": ("RMSprop", {}),
    "adam": ("Adam", {}),
    "adamw": ("AdamW", {}),
}
TORCH_VARIANTS = {"single-tensor": {"foreach": False}, "foreach": {"foreach": True},
                  "fused": {"fused": True}}


@dataclass
class Contender(Samples):
    """One optimizer on its own copy of the parameters; ``step()`` applies one update."""

    label: str
    step: Callable[[], object]
    result: Callable[[], dict[str, np.ndarray]]  # the parameters as numpy arrays
    samples: list[float] = field(default_factory=list)  # seconds per step

    def quantile(self, q: float) -> float:
        return float(np.quantile(self.samples, q))


def fresh_params(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in params.items()}


def optim_core_contender(name: str, backend: str, lr: float, params, grads) -> Contender:
    """optim_core's ``name`` on the fused kernels (``backend="numba"``) or the NumPy rules;
    each step selects its path first (a dictionary look-up and an import already done)."""
    p = fresh_params(params)
    opt = optim_core.create(name, lr=lr)

    def step():
        kernels.select(backend)
        return opt.step(p, grads)

    return Contender(f"optim_core {'fast' if backend == 'numba' else 'numpy'}", step, lambda: p)


def torch_contenders(torch, name: str, lr: float, params, grads) -> list[Contender | str]:
    """torch.optim's rule for ``name`` in each variant; a string says why a variant is
    missing (torch refuses it)."""
    cls_name, options = TORCH_RULES[name]
    found: list[Contender | str] = []
    for variant, kw in TORCH_VARIANTS.items():
        tp = [torch.from_numpy(v.copy()).requires_grad_(True) for v in params.values()]
        for t, g in zip(tp, grads.values()):
            t.grad = torch.from_numpy(g.copy())
        try:
            opt = getattr(torch.optim, cls_name)(tp, lr=lr, **options, **kw)
            opt.step()  # an unsupported variant may only fail at its first step
        except (RuntimeError, ValueError, TypeError) as exc:
            found.append(f"torch {variant}: unsupported ({str(exc).splitlines()[0][:60]})")
            continue
        found.append(Contender(f"torch {variant}", opt.step,
                               lambda tp=tp: {k: t.detach().numpy() for k, t in zip(params, tp)}))
    return found


def run_interleaved(contenders: list[Contender], warmup: int, repeats: int) -> None:
    """Warm every contender up, then time one step of each in turn, ``repeats`` rounds, each
    round starting one contender later than the last.

    Interleaving spreads slow drift of the machine (other load, frequency changes) over all
    contenders alike, so the ratios stay meaningful on a busy machine; each contender's data
    is also out of the fastest caches when its step starts, as in training. The rotation keeps
    any one contender from always following the same one (or coming first)."""
    for c in contenders:
        for _ in range(warmup):
            c.step()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(repeats):
            shift = r % len(contenders)
            for c in contenders[shift:] + contenders[:shift]:
                t0 = time.perf_counter()
                c.step()
                c.samples.append(time.perf_counter() - t0)
    finally:
        if gc_was_enabled:
            gc.enable()


def max_abs_diff(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    return max(float(np.max(np.abs(a[k].astype(np.float64) - b[k]))) for k in a)
