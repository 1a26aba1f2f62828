"""Layers in the book's style: each has ``forward`` and ``backward``, keeps what backward needs,
and writes its parameter gradients into the model's ``grads`` dict under its parameter names.
Vectorised over the batch (rows); dtype follows the input."""

from __future__ import annotations

import numpy as np


class Affine:
    """y = xW + b."""

    def __init__(self, params: dict, w: str, b: str, input_grad: bool = True):
        self.params, self.w, self.b = params, w, b
        self.input_grad = input_grad  # False for the first layer: nothing needs dL/dx there
        self.x: np.ndarray | None = None

    def forward(self, x: np.ndarray, train: bool, rng) -> np.ndarray:
        self.x = x
        out = x @ self.params[self.w]
        out += self.params[self.b]
        return out

    def backward(self, dout: np.ndarray, grads: dict) -> np.ndarray:
        grads[self.w] = self.x.T @ dout
        grads[self.b] = dout.sum(axis=0)
        return dout @ self.params[self.w].T if self.input_grad else None


class Relu:
    """y = max(x, 0)."""

    def forward(self, x, train, rng):
        self.mask = x > 0
        return np.maximum(x, 0, out=x)  # x is this layer's own fresh array

    def backward(self, dout, grads):
        dout *= self.mask
        return dout


class Sigmoid:
    """y = 1 / (1 + e^(−x)), computed as (1 + tanh(x/2))/2, which cannot overflow."""

    def forward(self, x, train, rng):
        x *= 0.5
        np.tanh(x, out=x)
        x += 1
        x *= 0.5
        self.out = x
        return x

    def backward(self, dout, grads):
        return dout * self.out * (1 - self.out)


class Tanh:
    """y = tanh(x)."""

    def forward(self, x, train, rng):
        self.out = np.tanh(x, out=x)
        return self.out

    def backward(self, dout, grads):
        return dout * (1 - self.out * self.out)


class Dropout:
    """Inverted dropout (as torch.nn.Dropout): in training each unit is kept with probability
    1 − ratio and scaled by 1/(1 − ratio); at inference it is the identity. The mask is drawn
    from the run's generator."""

    def __init__(self, ratio: float):
        self.ratio = ratio

    def forward(self, x, train, rng):
        if not train or self.ratio == 0:
            self.mask = None
            return x
        keep = rng.random(x.shape, dtype=x.dtype) >= self.ratio
        self.mask = keep.astype(x.dtype) / x.dtype.type(1 - self.ratio)
        return x * self.mask  # not in place: sigmoid and tanh keep their output for backward

    def backward(self, dout, grads):
        if self.mask is not None:
            dout *= self.mask
        return dout


class BatchNorm:
    """Batch normalisation (Ioffe & Szegedy 2015) as torch.nn.BatchNorm1d: normalise with the
    batch's mean and biased variance in training, update running averages (momentum 0.1, the
    unbiased variance), and use the running averages at inference."""

    EPS = 1e-5
    MOMENTUM = 0.1

    def __init__(self, params: dict, buffers: dict, gamma: str, beta: str):
        self.params, self.buffers, self.gamma, self.beta = params, buffers, gamma, beta
        self.mean_key, self.var_key = f"{gamma}.running_mean", f"{gamma}.running_var"

    def forward(self, x, train, rng):
        if train:
            mu = x.mean(axis=0)
            xc = x - mu
            var = (xc * xc).mean(axis=0)
            n = x.shape[0]
            m = self.MOMENTUM
            self.buffers[self.mean_key] *= 1 - m
            self.buffers[self.mean_key] += m * mu
            self.buffers[self.var_key] *= 1 - m
            self.buffers[self.var_key] += m * var * (n / max(n - 1, 1))
        else:
            xc = x - self.buffers[self.mean_key]
            var = self.buffers[self.var_key]
        self.std = np.sqrt(var + x.dtype.type(self.EPS))
        self.xn = xc / self.std
        return self.params[self.gamma] * self.xn + self.params[self.beta]

    def backward(self, dout, grads):
        grads[self.beta] = dout.sum(axis=0)
        grads[self.gamma] = (self.xn * dout).sum(axis=0)
        dxn = dout * self.params[self.gamma]
        n = dout.shape[0]
        # d/dx of (x − μ)/σ over the batch, in the compact form
        return (dxn - dxn.mean(axis=0) - self.xn * (dxn * self.xn).sum(axis=0) / n) / self.std
