"""Hyperparameter specs and small in-place building blocks shared by the update rules."""

from __future__ import annotations

import numpy as np

from ..hyperparams import BOOL, FLOAT, FLOAT_PAIR, Hyper


def lr_spec(default: float, book_default: float) -> Hyper:
    return Hyper("lr", FLOAT, default, "learning rate η", low=0, low_open=True, log_scale=True,
                 book_default=book_default)


def eps_spec(default: float, book: bool = True) -> Hyper:
    extra = {"book_default": 1e-7} if book else {}
    return Hyper("eps", FLOAT, default, "term added to the denominator for numerical stability",
                 low=0, log_scale=True, **extra)


WEIGHT_DECAY = Hyper("weight_decay", FLOAT, 0.0,
                     "L2 penalty added to the gradient (coupled): g ← g + λ·θ", low=0)
MAXIMIZE = Hyper("maximize", BOOL, False, "ascend the objective instead of descending")
MOMENTUM_BOOK = 0.9


def momentum_spec(default: float, in_book: bool, positive: bool = False) -> Hyper:
    extra = {"book_default": MOMENTUM_BOOK} if in_book else {}
    return Hyper("momentum", FLOAT, default, "momentum factor μ (velocity decay)", low=0, high=1,
                 low_open=positive, high_open=True, **extra)


BETAS = Hyper("betas", FLOAT_PAIR, (0.9, 0.999),
              "decay rates (β1, β2) of the first and second moment averages", low=0, high=1,
              high_open=True, book_default=(0.9, 0.999))


def effective_grad(p: np.ndarray, g: np.ndarray, weight_decay: float, maximize: bool,
                   out: np.ndarray) -> np.ndarray:
    """torch's ``g = -g if maximize``; ``g = g + weight_decay·p``. Returns ``g`` itself when
    neither applies, otherwise ``out`` holding the result."""
    if weight_decay:
        np.multiply(p, weight_decay, out=out)
        if maximize:
            out -= g
        else:
            out += g
        return out
    if maximize:
        return np.negative(g, out=out)
    return g


def lerp_(start: np.ndarray, end: np.ndarray, weight: float, tmp: np.ndarray) -> None:
    """start ← start + weight·(end − start), in torch.lerp's two-branch form."""
    np.subtract(end, start, out=tmp)
    if weight < 0.5:
        tmp *= weight
        start += tmp
    else:
        tmp *= 1.0 - weight
        np.subtract(end, tmp, out=start)


def addcmul_square_(acc: np.ndarray, g: np.ndarray, value: float, tmp: np.ndarray) -> None:
    """acc ← acc + value·g·g, evaluated (value·g)·g as torch's addcmul does."""
    np.multiply(g, value, out=tmp)
    tmp *= g
    acc += tmp


def addcdiv_(p: np.ndarray, num: np.ndarray, denom: np.ndarray, value: float,
             tmp: np.ndarray) -> None:
    """p ← p + value·num/denom, evaluated (value·num)/denom as torch's addcdiv does.
    ``tmp`` may be ``num`` itself (it is overwritten)."""
    np.multiply(num, value, out=tmp)
    tmp /= denom
    p += tmp
