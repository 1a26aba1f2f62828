"""Losses fused with their output layer, numerically stable; each returns (loss, dlogits)."""

from __future__ import annotations

import numpy as np


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of softmax(logits) against integer labels, and its gradient
    (softmax − onehot)/N. Shifts by the row maximum, so no exp overflows."""
    n = logits.shape[0]
    rows = np.arange(n)
    z = logits - logits.max(axis=1, keepdims=True)
    shifted_true = z[rows, labels]  # log p[t] = (logit[t] − max) − log Σ exp(logit − max)
    np.exp(z, out=z)
    sums = z.sum(axis=1, keepdims=True)
    loss = float(np.mean(np.log(sums[:, 0]) - shifted_true))
    z /= sums
    z[rows, labels] -= 1
    z /= n
    return loss, z


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def mean_squared_error(pred: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """mean((pred − target)²) over every element (torch.nn.MSELoss), and its gradient."""
    diff = pred - target.reshape(pred.shape)
    loss = float(np.mean(diff * diff))
    diff *= 2.0 / diff.size
    return loss, diff
