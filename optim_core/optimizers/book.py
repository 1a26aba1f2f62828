"""The book's convention: the update rules of "Deep Learning from Scratch" (Saito, 2016),
common/optimizer.py, written with the same operations in the same order, so that a trajectory
matches the book's code value for value.

Where the book differs from torch (``convention="torch"``), and by how much:

- eps = 1e-7 (torch: 1e-8 for Adam and RMSprop, 1e-10 for Adagrad), added after the square root.
  The book's Adam adds it to √v of the *uncorrected* second moment, torch to √v̂ after bias
  correction: the book's effective eps is eps·√(1−β2ᵗ), about 30× smaller at t = 1.
- Momentum: v ← μv − ηg, θ ← θ + v, with v₀ = 0. torch keeps b ← μb + g with b₁ = g and
  steps θ ← θ − ηb. With a constant η they visit the same points up to rounding; they differ
  when η changes (a schedule), because the book's velocity carries the old η.
- Nesterov in its corrected (2021) form: θ ← θ + μ²v − (1 + μ)ηg; v ← μv − ηg. Same points as
  torch's nesterov=True for a constant η (up to rounding).
- Adam: lr_t = η·√(1−β2ᵗ)/(1−β1ᵗ), m ← m + (1−β1)(g − m), v ← v + (1−β2)(g² − v),
  θ ← θ − lr_t·m/(√v + eps), with one global step count t for all parameters.
- AdaGrad and RMSprop: the same as torch's apart from eps (RMSprop's α is the book's decay_rate).
- No weight decay, dampening, maximize, amsgrad, centered or lr_decay; no AdamW.

The book's lr defaults: 0.01 for SGD, Momentum, Nesterov, AdaGrad and RMSprop; 0.001 for Adam.
"""

from __future__ import annotations

import math

import numpy as np

from .adam import Adam
from .adaptive import Adagrad, RMSprop
from .base import Optimizer
from .sgd import SGD, Momentum, Nesterov


class BookSGD(Optimizer):
    """θ ← θ − η·g."""

    name, convention, HYPERS = "sgd", "book", SGD.HYPERS

    def _update(self, p, g, lr, state, a, b):
        np.multiply(g, lr, out=a)
        p -= a


class BookMomentum(Optimizer):
    """v ← μv − η·g;  θ ← θ + v."""

    name, convention, HYPERS = "momentum", "book", Momentum.HYPERS

    def _update(self, p, g, lr, state, a, b):
        v = _slot(state, "v", p)
        v *= self.hyper["momentum"]
        np.multiply(g, lr, out=a)
        v -= a
        p += v


class BookNesterov(Optimizer):
    """θ ← θ + μ²v − (1 + μ)η·g;  v ← μv − η·g  (the 2021 correction)."""

    name, convention, HYPERS = "nesterov", "book", Nesterov.HYPERS

    def _update(self, p, g, lr, state, a, b):
        mu = self.hyper["momentum"]
        v = _slot(state, "v", p)
        np.multiply(v, mu * mu, out=a)
        p += a
        np.multiply(g, (1 + mu) * lr, out=a)
        p -= a
        v *= mu
        np.multiply(g, lr, out=a)
        v -= a


class BookAdaGrad(Optimizer):
    """h ← h + g⊙g;  θ ← θ − η·g / (√h + eps)."""

    name, convention, HYPERS = "adagrad", "book", Adagrad.HYPERS

    def _update(self, p, g, lr, state, a, b):
        h = _slot(state, "h", p)
        np.multiply(g, g, out=a)
        h += a
        _divide_step(p, g, h, lr, self.hyper["eps"], a, b)


class BookRMSprop(Optimizer):
    """h ← αh + (1 − α)·g⊙g;  θ ← θ − η·g / (√h + eps)."""

    name, convention, HYPERS = "rmsprop", "book", RMSprop.HYPERS

    def _update(self, p, g, lr, state, a, b):
        decay = self.hyper["alpha"]
        h = _slot(state, "h", p)
        h *= decay
        np.multiply(g, 1 - decay, out=a)
        a *= g
        h += a
        _divide_step(p, g, h, lr, self.hyper["eps"], a, b)


class BookAdam(Optimizer):
    """lr_t = η√(1−β2ᵗ)/(1−β1ᵗ);  m ← m + (1−β1)(g − m);  v ← v + (1−β2)(g² − v);
    θ ← θ − lr_t·m / (√v + eps)."""

    name, convention, HYPERS = "adam", "book", Adam.HYPERS

    def _begin_step(self, lr):
        beta1, beta2 = self.hyper["betas"]
        t = self.steps_taken + 1  # the book's self.iter, one count for all parameters
        self._lr_t = lr * math.sqrt(1.0 - beta2 ** t) / (1.0 - beta1 ** t)

    def _update(self, p, g, lr, state, a, b):
        beta1, beta2 = self.hyper["betas"]
        m, v = _slot(state, "m", p), _slot(state, "v", p)
        np.subtract(g, m, out=a)
        a *= 1 - beta1
        m += a
        np.multiply(g, g, out=a)
        a -= v
        a *= 1 - beta2
        v += a
        np.multiply(m, self._lr_t, out=a)
        np.sqrt(v, out=b)
        b += self.hyper["eps"]
        a /= b
        p -= a


def _slot(state: dict, key: str, like: np.ndarray) -> np.ndarray:
    """The state array ``key``, created as zeros like the parameter on first use."""
    if key not in state:
        state[key] = np.zeros_like(like)
    return state[key]


def _divide_step(p, g, h, lr, eps, a, b):
    """θ ← θ − (η·g) / (√h + eps), the book's AdaGrad and RMSprop step."""
    np.sqrt(h, out=b)
    b += eps
    np.multiply(g, lr, out=a)
    a /= b
    p -= a
