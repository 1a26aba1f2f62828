"""Synthetic datasets generated from a seed. Each returns (features, targets): float64
features and int64 labels (classification) or float64 targets (regression)."""

from __future__ import annotations

import numpy as np
from sklearn import datasets as sk


def spiral(seed: int, classes: int = 3, samples: int = 300, noise: float = 0.2):
    """``classes`` interleaved spiral arms (cs231n's toy problem), ``samples`` points per arm."""
    rng = np.random.default_rng(seed)
    radius = np.tile(np.linspace(0.0, 1.0, samples), classes)
    labels = np.repeat(np.arange(classes), samples)
    theta = (labels * 4.0 + radius * 4.0 + rng.standard_normal(radius.size) * noise)
    x = np.column_stack([radius * np.sin(theta), radius * np.cos(theta)])
    return x, labels


def moons(seed: int, samples: int = 1000, noise: float = 0.2):
    return sk.make_moons(n_samples=samples, noise=noise, random_state=seed)


def circles(seed: int, samples: int = 1000, noise: float = 0.1):
    return sk.make_circles(n_samples=samples, noise=noise, factor=0.5, random_state=seed)


def blobs(seed: int, classes: int = 3, samples: int = 1000, features: int = 2):
    return sk.make_blobs(n_samples=samples, centers=classes, n_features=features,
                         random_state=seed)


def xor(seed: int, samples: int = 1000, noise: float = 0.1):
    """Points in the square [−1, 1]²; the label is 1 where x·y > 0 (before the noise)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, size=(samples, 2))
    labels = (x[:, 0] * x[:, 1] > 0).astype(np.int64)
    return x + rng.standard_normal(x.shape) * noise, labels


def regression(seed: int, samples: int = 1000, features: int = 10, noise: float = 10.0):
    """y = w·x + b + noise with random w (sklearn's make_regression)."""
    x, y = sk.make_regression(n_samples=samples, n_features=features, noise=noise,
                              random_state=seed)
    return x, (y - y.mean()) / y.std()


def highdim(seed: int, samples: int = 10000, features: int = 784, classes: int = 10):
    """An MNIST-shaped problem (784 features, 10 classes) for speed work: Gaussian clusters in
    an informative subspace, the other features noise."""
    return sk.make_classification(n_samples=samples, n_features=features, n_informative=50,
                                  n_redundant=0, n_classes=classes, n_clusters_per_class=2,
                                  class_sep=1.5, random_state=seed)
