"""Per-coordinate adaptive methods, as torch.optim: Adagrad and RMSprop.

Adagrad (Duchi, Hazan & Singer, JMLR 2011):
    η_t = η / (1 + (t − 1)·lr_decay);  s ← s + g²;  θ ← θ − η_t · g / (√s + ε)
RMSprop (Tieleman & Hinton, lecture 6.5, 2012):
    v ← αv + (1 − α)g²;  [centered: ḡ ← αḡ + (1 − α)g, v̂ = v − ḡ²];  den = √v̂ + ε
    momentum: b ← μb + g/den, θ ← θ − ηb;  otherwise θ ← θ − η·g/den
"""

from __future__ import annotations

import numpy as np

from .. import kernels
from ..hyperparams import BOOL, FLOAT, Hyper
from .base import Optimizer
from .common import (MAXIMIZE, WEIGHT_DECAY, addcdiv_, addcmul_square_, effective_grad,
                     eps_spec, lerp_, lr_spec, momentum_spec)


class Adagrad(Optimizer):
    """Adagrad (torch.optim.Adagrad)."""

    name = "adagrad"
    HYPERS = {
        "lr": lr_spec(1e-2, book_default=0.01),
        "lr_decay": Hyper("lr_decay", FLOAT, 0.0, "learning-rate decay per step", low=0),
        "weight_decay": WEIGHT_DECAY,
        "initial_accumulator_value": Hyper("initial_accumulator_value", FLOAT, 0.0,
                                           "starting value of the sum of squares", low=0),
        "eps": eps_spec(1e-10),
        "maximize": MAXIMIZE,
    }

    def _update(self, p, g, lr, state, a, b):
        h = self.hyper
        if "sum" not in state:
            state["step"] = 0
            state["sum"] = np.full_like(p, h["initial_accumulator_value"])
        state["step"] += 1
        clr = lr / (1 + (state["step"] - 1) * h["lr_decay"])
        if kernels.adagrad(p, g, state["sum"], clr=clr, weight_decay=h["weight_decay"],
                           eps=h["eps"], maximize=h["maximize"]):
            return
        d = effective_grad(p, g, h["weight_decay"], h["maximize"], out=a)
        addcmul_square_(state["sum"], d, 1.0, tmp=b)
        np.sqrt(state["sum"], out=b)
        b += h["eps"]
        addcdiv_(p, d, b, -clr, tmp=a)


class RMSprop(Optimizer):
    """RMSprop (torch.optim.RMSprop)."""

    name = "rmsprop"
    HYPERS = {
        "lr": lr_spec(1e-2, book_default=0.01),
        "alpha": Hyper("alpha", FLOAT, 0.99, "decay rate α of the squared-gradient average",
                       low=0, high=1, high_open=True, book_default=0.99),
        "eps": eps_spec(1e-8),
        "weight_decay": WEIGHT_DECAY,
        "momentum": momentum_spec(0.0, in_book=False),
        "centered": Hyper("centered", BOOL, False,
                          "normalise by the gradient's estimated variance"),
        "maximize": MAXIMIZE,
    }

    def _update(self, p, g, lr, state, a, b):
        h = self.hyper
        if "square_avg" not in state:
            state["step"] = 0
            state["square_avg"] = np.zeros_like(p)
            if h["momentum"] > 0:
                state["momentum_buffer"] = np.zeros_like(p)
            if h["centered"]:
                state["grad_avg"] = np.zeros_like(p)
        state["step"] += 1
        sq = state["square_avg"]
        if kernels.rmsprop(p, g, sq, state["grad_avg"] if h["centered"] else None,
                           state["momentum_buffer"] if h["momentum"] > 0 else None,
                           lr=lr, alpha=h["alpha"], eps=h["eps"], weight_decay=h["weight_decay"],
                           momentum=h["momentum"], maximize=h["maximize"]):
            return
        d = effective_grad(p, g, h["weight_decay"], h["maximize"], out=a)
        alpha = h["alpha"]
        sq *= alpha
        addcmul_square_(sq, d, 1.0 - alpha, tmp=b)
        if h["centered"]:
            ga = state["grad_avg"]
            lerp_(ga, d, 1.0 - alpha, tmp=b)
            np.multiply(ga, -1.0, out=b)
            b *= ga
            b += sq
            np.sqrt(b, out=b)
        else:
            np.sqrt(sq, out=b)
        b += h["eps"]
        if h["momentum"] > 0:
            buf = state["momentum_buffer"]
            buf *= h["momentum"]
            np.divide(d, b, out=b)
            buf += b
            np.multiply(buf, -lr, out=b)
            p += b
        else:
            addcdiv_(p, d, b, -lr, tmp=a)
