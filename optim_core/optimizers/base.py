"""The optimizer base class: argument checks, gradient norm and clipping, the learning-rate
schedule, scratch buffers and the state dict. Subclasses write only the update rule.

An update rule ``_update(p, g, lr, state, a, b)`` changes ``p`` in place. ``a`` and ``b`` are
scratch views shaped like ``p``, carved from two flat buffers per dtype that the optimizer keeps
for its lifetime, so a step allocates nothing proportional to the parameter count.

The torch-convention rules first offer the update to optim_core.kernels, whose fused kernel (when
numba is installed and the arrays suit it) does the same operations in one pass and returns
True; the NumPy code after that call is the readable rule and the kernels' reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

import numpy as np

from ..errors import ConfigError
from ..hyperparams import Hyper, validate
from ..schedules import Schedule

CLIP_EPS = 1e-6  # added to the norm before dividing, as torch.nn.utils.clip_grad_norm_ does

Params = dict[str, np.ndarray]


@dataclass(frozen=True)
class StepReport:
    """What one ``step`` did: the learning rate it used and the gradient's global L2 norm
    (before clipping). ``applied`` is False when a gradient held NaN or inf; then nothing was
    changed and ``nonfinite`` names the offending parameters."""

    lr: float
    grad_norm: float
    applied: bool = True
    nonfinite: tuple[str, ...] = ()


class Optimizer:
    """Base class. ``name`` and ``convention`` identify the rule; ``HYPERS`` declares its
    hyperparameters, which ``create`` validates before construction."""

    name: ClassVar[str]
    convention: ClassVar[str] = "torch"
    HYPERS: ClassVar[dict[str, Hyper]]
    CONSTRAINTS: ClassVar[tuple[str, ...]] = ()  # rules that tie several hyperparameters

    def __init__(self, hyper: dict[str, Any], schedule: Schedule | None = None,
                 clip_grad_norm: float | None = None):
        self.hyper = dict(hyper)
        self.schedule = schedule
        self.clip_grad_norm = clip_grad_norm
        self.steps_taken = 0  # optimizer steps applied so far; drives the schedule
        self.state: dict[str, dict[str, Any]] = {}
        self._scratch: dict[np.dtype, tuple[np.ndarray, np.ndarray]] = {}

    # -- public API -------------------------------------------------------------------------

    @property
    def lr(self) -> float:
        """The learning rate the next step will use."""
        base = self.hyper["lr"]
        return base if self.schedule is None else self.schedule.lr(self.steps_taken, base)

    def step(self, params: Params, grads: Params) -> StepReport:
        """Apply one update to ``params`` in place.

        Non-finite gradients are reported, not applied. With ``clip_grad_norm`` set, ``grads``
        are scaled in place to that global norm first, as torch.nn.utils.clip_grad_norm_ does.
        """
        _check_pairing(params, grads)
        norm = global_norm(grads)
        lr = self.lr
        if not math.isfinite(norm):
            bad = tuple(k for k, g in grads.items() if not np.isfinite(g).all())
            return StepReport(lr=lr, grad_norm=norm, applied=False, nonfinite=bad)
        if self.clip_grad_norm is not None:
            coef = self.clip_grad_norm / (norm + CLIP_EPS)
            if coef < 1.0:
                for g in grads.values():
                    g *= coef
        self._begin_step(lr)
        for key, p in params.items():
            a, b = self._scratch_for(p)
            self._update(p, grads[key], lr, self.state.setdefault(key, {}), a, b)
        self.steps_taken += 1
        return StepReport(lr=lr, grad_norm=norm)

    def state_dict(self) -> dict[str, Any]:
        """A flat dict of numbers, strings and ndarrays: ``np.savez(f, **opt.state_dict())``
        stores it without pickle, and ``load_state_dict(np.load(f))`` restores it."""
        sd: dict[str, Any] = {
            "optimizer": self.name,
            "convention": self.convention,
            "steps_taken": self.steps_taken,
        }
        for name, value in self.hyper.items():
            sd[f"hyper.{name}"] = np.asarray(value) if isinstance(value, tuple) else value
        for key, slots in self.state.items():
            for slot, value in slots.items():
                sd[f"state.{key}.{slot}"] = value.copy() if isinstance(value, np.ndarray) else value
        return sd

    def load_state_dict(self, sd: Mapping[str, Any]) -> None:
        """Restore what ``state_dict`` saved (also straight from ``np.load``); the optimizer
        then continues bit-identically. Hyperparameters are restored too, as in torch."""
        name, convention = _scalar(sd.get("optimizer")), _scalar(sd.get("convention"))
        if (name, convention) != (self.name, self.convention):
            raise ConfigError("state_dict", f"was saved by {name!r} ({convention}), "
                                            f"not {self.name!r} ({self.convention})")
        hyper = {k[len("hyper."):]: _restore_hyper(v) for k, v in sd.items()
                 if k.startswith("hyper.")}
        self.hyper = validate(self.HYPERS, hyper, self.name, self.convention)
        self.steps_taken = int(_scalar(sd["steps_taken"]))
        self.state = {}
        for k, v in sd.items():
            if k.startswith("state."):
                key, slot = k[len("state."):].rsplit(".", 1)
                # counters (ints) come back as Python ints; tensors, even 0-d ones, as arrays
                value = int(v) if np.asarray(v).dtype.kind in "iub" else np.array(v, copy=True)
                self.state.setdefault(key, {})[slot] = value

    # -- for subclasses ---------------------------------------------------------------------

    def _begin_step(self, lr: float) -> None:
        """Hook run once per step before the per-parameter updates (global counters)."""

    def _update(self, p: np.ndarray, g: np.ndarray, lr: float, state: dict[str, Any],
                a: np.ndarray, b: np.ndarray) -> None:
        raise NotImplementedError

    def _scratch_for(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pair = self._scratch.get(p.dtype)
        if pair is None or pair[0].size < p.size:
            pair = (np.empty(p.size, p.dtype), np.empty(p.size, p.dtype))
            self._scratch[p.dtype] = pair
        return pair[0][: p.size].reshape(p.shape), pair[1][: p.size].reshape(p.shape)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyper.items())
        return f"{type(self).__name__}({args}, convention={self.convention!r})"


def global_norm(grads: Params) -> float:
    """The L2 norm of all gradients together, as a Python float (inf or nan if any is)."""
    total = 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        for g in grads.values():
            flat = g.reshape(-1)
            sq = float(np.dot(flat, flat))
            if math.isinf(sq) and np.isfinite(flat).all():
                sq = float(np.dot(flat.astype(np.float64), flat.astype(np.float64)))  # overflow
            total += sq
    return math.sqrt(total)


def _check_pairing(params: Params, grads: Params) -> None:
    if params.keys() != grads.keys():
        missing = sorted(params.keys() - grads.keys())
        extra = sorted(grads.keys() - params.keys())
        raise ConfigError("grads", f"must have the same keys as params; missing {missing}, "
                                   f"unexpected {extra}")
    for key, p in params.items():
        g = grads[key]
        if not isinstance(p, np.ndarray) or not np.issubdtype(p.dtype, np.floating):
            raise ConfigError(f"params[{key!r}]", "must be a floating-point numpy array")
        if not isinstance(g, np.ndarray) or g.shape != p.shape:
            shape = getattr(g, "shape", type(g).__name__)
            raise ConfigError(f"grads[{key!r}]", f"must have shape {p.shape} like the "
                                                 f"parameter, got {shape}")
        if g.dtype != p.dtype:
            raise ConfigError(f"grads[{key!r}]", f"must have dtype {p.dtype} like the "
                                                 f"parameter, got {g.dtype}")


def _scalar(v: Any) -> Any:
    return v.item() if isinstance(v, np.ndarray) and v.ndim == 0 else v


def _restore_hyper(v: Any) -> Any:
    if isinstance(v, np.ndarray) and v.ndim == 1:
        return tuple(float(x) for x in v)
    return _scalar(v)
