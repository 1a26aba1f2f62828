"""Adam and AdamW, as torch.optim (single-tensor path).

Adam (Kingma & Ba, ICLR 2015):
    m ← β1·m + (1 − β1)g;  v ← β2·v + (1 − β2)g²;  [amsgrad: v̂ ← max(v̂, v)]
    θ ← θ − (η / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε)
AdamW (Loshchilov & Hutter, ICLR 2019) first decays the weights, θ ← θ(1 − ηλ), instead of
adding λθ to the gradient. Bias corrections are computed in float64 from the integer step t.
"""

from __future__ import annotations

import numpy as np

from .. import kernels
from ..hyperparams import BOOL, FLOAT, Hyper
from .base import Optimizer
from .common import (BETAS, MAXIMIZE, WEIGHT_DECAY, addcdiv_, addcmul_square_, effective_grad,
                     eps_spec, lerp_, lr_spec)

AMSGRAD = Hyper("amsgrad", BOOL, False, "use the running maximum of the second moment")


class Adam(Optimizer):
    """Adam (torch.optim.Adam)."""

    name = "adam"
    decoupled = False
    HYPERS = {
        "lr": lr_spec(1e-3, book_default=1e-3),
        "betas": BETAS,
        "eps": eps_spec(1e-8),
        "weight_decay": WEIGHT_DECAY,
        "amsgrad": AMSGRAD,
        "maximize": MAXIMIZE,
    }

    def _update(self, p, g, lr, state, a, b):
        h = self.hyper
        beta1, beta2 = h["betas"]
        if "exp_avg" not in state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(p)
            state["exp_avg_sq"] = np.zeros_like(p)
            if h["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(p)
        state["step"] += 1
        step = state["step"]
        step_size = lr / (1 - beta1 ** step)
        bias_correction2_sqrt = (1 - beta2 ** step) ** 0.5
        m, v = state["exp_avg"], state["exp_avg_sq"]
        if kernels.adam(p, g, m, v, state["max_exp_avg_sq"] if h["amsgrad"] else None,
                        decay_factor=1 - lr * h["weight_decay"] if self.decoupled else None,
                        weight_decay=0.0 if self.decoupled else h["weight_decay"],
                        betas=h["betas"], maximize=h["maximize"],
                        step_size=step_size, bias_correction2_sqrt=bias_correction2_sqrt,
                        eps=h["eps"]):
            return
        if self.decoupled:
            p *= 1 - lr * h["weight_decay"]
            d = effective_grad(p, g, 0.0, h["maximize"], out=a)
        else:
            d = effective_grad(p, g, h["weight_decay"], h["maximize"], out=a)
        lerp_(m, d, 1 - beta1, tmp=b)
        v *= beta2
        addcmul_square_(v, d, 1 - beta2, tmp=b)
        if h["amsgrad"]:
            np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
            v = state["max_exp_avg_sq"]
        np.sqrt(v, out=b)
        b /= bias_correction2_sqrt
        b += h["eps"]
        addcdiv_(p, m, b, -step_size, tmp=a)


class AdamW(Adam):
    """AdamW (torch.optim.AdamW): Adam with decoupled weight decay, λ = 0.01 by default."""

    name = "adamw"
    decoupled = True
    HYPERS = {
        **Adam.HYPERS,
        "weight_decay": Hyper("weight_decay", FLOAT, 1e-2,
                              "decoupled weight decay λ: θ ← θ(1 − ηλ) each step", low=0),
    }
