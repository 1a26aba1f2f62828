"""Fused optimizer-step kernels: an optional fast path for the update rules of
optim_core/optimizers.

Each function here runs one rule's whole update in place in a single pass over memory and
returns True, or returns False and does nothing, in which case the caller runs its readable
NumPy rule, which stays the reference the fast path is tested against (bit-identical in float64
and float32). The fast path is taken when

- the accelerator is importable (numba, the ``fast`` extra), and ``OPTRACK_KERNELS`` is unset,
  ``auto`` or ``numba`` (``numpy`` forces the reference rules; ``numba`` fails loudly without it);
- every array is float32 or float64 of one dtype and shape, C-contiguous and writable, with at
  least ``MIN_SIZE`` elements.

numba is imported, and each kernel compiled (or loaded from numba's on-disk cache), on the first
step that needs it, so importing optim_core stays cheap; a long-lived process can call ``warm()``
at start to pay that once, before its first run. ``python -m optim_core.kernels`` fills the
cache ahead of time (the Dockerfile does).
"""

from __future__ import annotations

import os
from types import ModuleType

import numpy as np

from ..errors import ConfigError

ENV = "OPTRACK_KERNELS"
CHOICES = ("auto", "numba", "numpy")
DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# Below this many elements a fused kernel saves microseconds; not worth importing numba (about a
# second, once per process) for a 2-D trajectory preview or a model made only of small tensors.
MIN_SIZE = 1024  # elements

_UNRESOLVED = object()
_module: ModuleType | None | object = _UNRESOLVED  # the numba kernels, None for the reference


def select(choice: str | None = None) -> str:
    """Choose the path for the rest of the process (``None``: from ``OPTRACK_KERNELS``) and
    return the backend in use, ``"numba"`` or ``"numpy"``."""
    global _module
    choice = (os.environ.get(ENV, "") or "auto") if choice is None else choice
    if choice not in CHOICES:
        raise ConfigError(ENV, f"must be one of {', '.join(CHOICES)}, got {choice!r}")
    _module = None
    if choice != "numpy":
        try:
            from . import _numba
        except ImportError as exc:
            if choice == "numba":
                raise ConfigError(ENV, f"is 'numba' but numba cannot be imported: {exc}") from exc
        else:
            _module = _numba
    return backend()


def backend() -> str:
    """``"numba"`` if the fused kernels are in use, ``"numpy"`` for the reference rules."""
    if _module is _UNRESOLVED:
        select()
    return "numpy" if _module is None else "numba"


def warm() -> str:
    """Compile every kernel for both dtypes now (or load it from numba's cache) instead of at
    the first step that needs it; returns the backend in use. A no-op on the reference path."""
    if backend() == "numba":
        for dtype in DTYPES:
            p, g, s1, s2, s3 = (np.ones(max(MIN_SIZE, 1), dtype) for _ in range(5))
            for buf in (None, s1):
                sgd(p, g, buf, lr=0.1, momentum=0.9, dampening=0.0, nesterov=False,
                    weight_decay=0.0, maximize=False, first=True)
                adam(p, g, s2, s3, buf, decay_factor=None, weight_decay=0.0, betas=(0.9, 0.999),
                     maximize=False, step_size=0.1, bias_correction2_sqrt=1.0, eps=1e-8)
                for grad_avg in (None, s2):
                    rmsprop(p, g, s3, grad_avg, buf, lr=0.1, alpha=0.99, eps=1e-8,
                            weight_decay=0.0, momentum=0.5, maximize=False)
            adagrad(p, g, s1, clr=0.1, weight_decay=0.0, eps=1e-10, maximize=False)
    return backend()


def _kernels_for(*arrays: np.ndarray) -> ModuleType | None:
    """The kernel module if the fast path is on and suits every array, else None."""
    p = arrays[0]
    if p.size < MIN_SIZE:
        return None
    if _module is _UNRESOLVED:
        select()
    if _module is None:
        return None
    if p.dtype not in DTYPES:
        return None
    for a in arrays:
        if (a.dtype != p.dtype or a.shape != p.shape or not a.flags.c_contiguous
                or not a.flags.writeable):
            return None
    return _module  # type: ignore[return-value]


def applies(*arrays: np.ndarray) -> bool:
    """Whether the fused kernels are in use and would take these arrays."""
    return _kernels_for(*arrays) is not None


def _flat(*arrays: np.ndarray) -> list[np.ndarray]:
    return [a.reshape(-1) for a in arrays]


def _lerp_args(weight: float, cast) -> tuple[object, bool]:
    """The factor common.lerp_ multiplies by (cast to the dtype), and whether it took its
    w < 0.5 branch."""
    return (cast(weight), True) if weight < 0.5 else (cast(1.0 - weight), False)


def sgd(p, g, buf, *, lr: float, momentum: float, dampening: float, nesterov: bool,
        weight_decay: float, maximize: bool, first: bool) -> bool:
    """SGD, with momentum when ``buf`` (the momentum buffer) is given; ``first`` fills it with
    the first gradient."""
    k = _kernels_for(p, g) if buf is None else _kernels_for(p, g, buf)
    if k is None:
        return False
    c = p.dtype.type
    wd = (c(weight_decay), bool(weight_decay), maximize)
    if buf is None:
        k.sgd(*_flat(p, g), *wd, c(-lr))
    else:
        k.sgd_momentum(*_flat(p, g, buf), *wd, c(momentum), first, c(1.0 - dampening),
                       bool(dampening), nesterov, c(-lr))
    return True


def adagrad(p, g, acc, *, clr: float, weight_decay: float, eps: float, maximize: bool) -> bool:
    """Adagrad with the step's decayed learning rate ``clr``; ``acc`` is the sum of squares."""
    k = _kernels_for(p, g, acc)
    if k is None:
        return False
    c = p.dtype.type
    k.adagrad(*_flat(p, g, acc), c(weight_decay), bool(weight_decay), maximize, c(eps), c(-clr))
    return True


def rmsprop(p, g, sq, grad_avg, buf, *, lr: float, alpha: float, eps: float,
            weight_decay: float, momentum: float, maximize: bool) -> bool:
    """RMSprop; centered when ``grad_avg`` is given, with momentum when ``buf`` is."""
    slots = [a for a in (grad_avg, buf) if a is not None]
    k = _kernels_for(p, g, sq, *slots)
    if k is None:
        return False
    c = p.dtype.type
    head = (*_flat(p, g, sq, *slots), c(weight_decay), bool(weight_decay), maximize, c(alpha),
            c(1.0 - alpha), c(eps))
    centered = _lerp_args(1.0 - alpha, c) if grad_avg is not None else ()
    mu = (c(momentum),) if buf is not None else ()
    kernel = {(False, False): k.rmsprop, (False, True): k.rmsprop_momentum,
              (True, False): k.rmsprop_centered, (True, True): k.rmsprop_centered_momentum}
    kernel[bool(centered), bool(mu)](*head, *centered, *mu, c(-lr))
    return True


def adam(p, g, m, v, v_max, *, decay_factor: float | None, weight_decay: float,
         betas: tuple[float, float], maximize: bool, step_size: float,
         bias_correction2_sqrt: float, eps: float) -> bool:
    """Adam, or AdamW when ``decay_factor`` (1 − ηλ) is given; amsgrad when ``v_max`` (the
    running maximum of the second moment) is."""
    k = _kernels_for(p, g, m, v) if v_max is None else _kernels_for(p, g, m, v, v_max)
    if k is None:
        return False
    c = p.dtype.type
    beta1, beta2 = betas
    decoupled = decay_factor is not None
    rule = (decoupled, c(decay_factor if decoupled else 1.0), c(weight_decay), bool(weight_decay),
            bool(maximize), *_lerp_args(1 - beta1, c), c(beta2), c(1 - beta2))
    scalars = (rule, c(bias_correction2_sqrt), c(eps), c(-step_size))
    if v_max is None:
        k.adam(*_flat(p, g, m, v), *scalars)
    else:
        k.adam_amsgrad(*_flat(p, g, m, v, v_max), *scalars)
    return True
