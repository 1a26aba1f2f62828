"""SGD with optional (Nesterov) momentum, as torch.optim.SGD.

    g ← g + λθ;  b ← μb + (1 − τ)g  (b₁ = g);  d = g + μb if nesterov else b;  θ ← θ − ηd

Sutskever et al., "On the importance of initialization and momentum in deep learning", 2013.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import kernels
from ..errors import ConfigError
from ..hyperparams import BOOL, FLOAT, Hyper
from .base import Optimizer
from .common import MAXIMIZE, WEIGHT_DECAY, effective_grad, momentum_spec, lr_spec


NESTEROV_RULE = "nesterov requires momentum > 0 and dampening = 0"


def _sgd_hypers(momentum: float, nesterov: bool) -> dict[str, Hyper]:
    """SGD's hyperparameters; the ``nesterov`` optimizer fixes nesterov=True, dampening=0
    and needs a positive momentum, so it does not offer those two."""
    specs = {
        "lr": lr_spec(1e-3, book_default=0.01),
        "momentum": momentum_spec(momentum, in_book=momentum > 0, positive=nesterov),
        "dampening": Hyper("dampening", FLOAT, 0.0, "dampening τ of the momentum update",
                           low=0, high=1),
        "nesterov": Hyper("nesterov", BOOL, nesterov, "use Nesterov momentum"),
        "weight_decay": WEIGHT_DECAY,
        "maximize": MAXIMIZE,
    }
    if nesterov:
        del specs["dampening"], specs["nesterov"]
    return specs


class SGD(Optimizer):
    """Stochastic gradient descent (torch.optim.SGD)."""

    name = "sgd"
    HYPERS = _sgd_hypers(0.0, False)

    CONSTRAINTS = (NESTEROV_RULE,)
    FIXED: dict[str, Any] = {}  # settings a named variant pins instead of offering

    def __init__(self, hyper: dict[str, Any], **kw: Any):
        super().__init__(hyper, **kw)
        rule = self._rule
        if rule["nesterov"] and (rule["momentum"] <= 0 or rule["dampening"] != 0):
            raise ConfigError("nesterov", "requires momentum > 0 and dampening = 0")

    @property
    def _rule(self) -> dict[str, Any]:
        return {**self.hyper, **self.FIXED}

    def _update(self, p, g, lr, state, a, b):
        h = self._rule
        if self._fused(p, g, lr, state, h):
            return
        d = effective_grad(p, g, h["weight_decay"], h["maximize"], out=a)
        mu = h["momentum"]
        if mu:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(d, copy=True)
            else:
                buf *= mu
                if h["dampening"]:
                    np.multiply(d, 1.0 - h["dampening"], out=b)
                    buf += b
                else:
                    buf += d
            if h["nesterov"]:
                np.multiply(buf, mu, out=b)
                b += d
                d = b
            else:
                d = buf
        np.multiply(d, -lr, out=b)
        p += b

    def _fused(self, p, g, lr, state, h) -> bool:
        """The same update by the fused kernel, when it applies (see optim_core.kernels)."""
        buf = state.get("momentum_buffer") if h["momentum"] else None
        first = bool(h["momentum"]) and buf is None
        if first:
            if not kernels.applies(p, g):
                return False
            buf = np.zeros_like(p)
        done = kernels.sgd(p, g, buf, lr=lr, momentum=h["momentum"],
                           dampening=h["dampening"], nesterov=h["nesterov"],
                           weight_decay=h["weight_decay"], maximize=h["maximize"], first=first)
        if done and first:
            state["momentum_buffer"] = buf
        return done


class Momentum(SGD):
    """SGD with classical momentum μ = 0.9 by default."""

    name = "momentum"
    HYPERS = _sgd_hypers(0.9, False)


class Nesterov(SGD):
    """SGD with Nesterov momentum μ = 0.9 by default."""

    name = "nesterov"
    HYPERS = _sgd_hypers(0.9, True)
    CONSTRAINTS = ()
    FIXED = {"nesterov": True, "dampening": 0.0}
