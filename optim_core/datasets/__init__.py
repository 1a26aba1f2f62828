"""Datasets by name: ``datasets.load("digits", seed=0)`` → a Dataset with standardised float
features, train/validation splits, and a content hash that goes into the run's record.

Synthetic (from the seed): spiral, moons, circles, blobs, xor, regression, highdim (784
features, 10 classes). Real and offline, from scikit-learn's bundled copies: digits (8×8),
iris, wine, breast_cancer. A user's file: ``load("file", path="data.csv", label="y")``, the
path relative to the datasets directory (``OPTRACK_DATASETS_DIR``, default ``./datasets``), or
a file pushed to the server: ``load("file", dataset="name@sha256", cache_dir=…)`` on a worker,
``shape(facts, dataset=…)`` where only its stored facts are at hand (pushed.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from sklearn import datasets as sk

from ..errors import ConfigError
from ..hyperparams import CHOICE, FLOAT, INT, STRING, Hyper, validate
from . import synthetic
from .files import load_file
from .pushed import DatasetShape, FileFacts, load_cached

VAL_FRACTION = Hyper("val_fraction", FLOAT, 0.2, "share of the examples held out for "
                                                 "validation", low=0, high=1, low_open=True,
                     high_open=True)


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: it holds arrays
class Dataset:
    """Standardised features, splits, and what they are."""

    name: str
    task: str  # "classification" (integer labels 0..classes−1) or "regression" (float targets)
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    classes: int  # 0 for regression
    description: str
    content_hash: str

    @property
    def input_dim(self) -> int:
        return self.x_train.shape[1]

    @property
    def n_train(self) -> int:
        return len(self.x_train)

    @property
    def pinned(self) -> dict[str, Any]:
        """Options to write into a run's config (DatasetShape's); loaded arrays add none."""
        return {}

    @property
    def output_dim(self) -> int:
        return self.classes if self.task == "classification" else 1


@dataclass(frozen=True)
class Source:
    make: Callable[..., tuple[np.ndarray, np.ndarray]]
    task: str
    description: str
    options: dict[str, Hyper]


def _samples(default: int) -> Hyper:
    return Hyper("samples", INT, default, "number of examples", low=10, high=1_000_000)


def _noise(default: float) -> Hyper:
    return Hyper("noise", FLOAT, default, "standard deviation of the added noise", low=0)


def _classes(default: int) -> Hyper:
    return Hyper("classes", INT, default, "number of classes", low=2, high=100)


def _features(default: int) -> Hyper:
    return Hyper("features", INT, default, "number of features", low=1, high=10_000)


ONE_FILE = ("give exactly one of path (a file in the datasets directory) and dataset (a file "
            "pushed to the server)")


def _file(path: str | None = None, label: str | None = None, dataset: str | None = None,
          cache_dir: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    if (path is None) == (dataset is None):
        raise ConfigError("path", ONE_FILE)
    return load_cached(dataset, label, cache_dir) if dataset else load_file(path, label)


def _bundled(loader) -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    def make(seed: int):
        bunch = loader()
        return bunch.data, bunch.target
    return make


SOURCES: dict[str, Source] = {
    "spiral": Source(synthetic.spiral, "classification", "interleaved spiral arms in 2-D",
                     {"classes": _classes(3), "samples": _samples(300), "noise": _noise(0.2)}),
    "moons": Source(synthetic.moons, "classification", "two interleaving half circles in 2-D",
                    {"samples": _samples(1000), "noise": _noise(0.2)}),
    "circles": Source(synthetic.circles, "classification", "a circle inside a circle in 2-D",
                      {"samples": _samples(1000), "noise": _noise(0.1)}),
    "blobs": Source(synthetic.blobs, "classification", "isotropic Gaussian blobs",
                    {"classes": _classes(3), "samples": _samples(1000), "features": _features(2)}),
    "xor": Source(synthetic.xor, "classification", "the XOR quadrants of [−1, 1]²",
                  {"samples": _samples(1000), "noise": _noise(0.1)}),
    "regression": Source(synthetic.regression, "regression", "a noisy linear target",
                         {"samples": _samples(1000), "noise": _noise(10.0),
                          "features": _features(10)}),
    "highdim": Source(synthetic.highdim, "classification",
                      "MNIST-shaped synthetic classes: 784 features, 10 classes",
                      {"samples": _samples(10000)}),
    "digits": Source(_bundled(sk.load_digits), "classification",
                     "handwritten digits, 8×8 grey levels (1,797 images, 10 classes)", {}),
    "iris": Source(_bundled(sk.load_iris), "classification",
                   "Fisher's iris flowers (150 examples, 4 features, 3 classes)", {}),
    "wine": Source(_bundled(sk.load_wine), "classification",
                   "wine cultivars (178 examples, 13 features, 3 classes)", {}),
    "breast_cancer": Source(_bundled(sk.load_breast_cancer), "classification",
                            "Wisconsin breast cancer (569 examples, 30 features, 2 classes)", {}),
    "file": Source(_file, "", "your own .npz (arrays x, y) or .csv (header + label column)",
                   {"path": Hyper("path", STRING, None, "the .npz or .csv file, relative to "
                                                        "the datasets directory"),
                    "dataset": Hyper("dataset", STRING, None, "or: a file pushed to the "
                                                              "server, by name or sha256"),
                    "label": Hyper("label", STRING, None, "label column of a .csv file "
                                                          "(default: the last)"),
                    "task": Hyper("task", CHOICE, "classification", "what the labels are",
                                  choices=("classification", "regression"))}),
}


def load(name: str, seed: int = 0, cache_dir: Path | None = None, **options: Any) -> Dataset:
    """Load dataset ``name``; the same (name, seed, options) give the same arrays everywhere.
    ``cache_dir`` holds the pushed files a ``"file"`` dataset may name. Raises ConfigError
    naming the field (``dataset.samples``)."""
    try:
        return _load(name, seed, options, cache_dir)
    except ConfigError as exc:
        raise exc.within("dataset") from None


def _load(name: str, seed: int, options: dict[str, Any], cache_dir: Path | None) -> Dataset:
    if name not in SOURCES:
        raise ConfigError("name", f"unknown dataset {name!r}; choose one of {', '.join(SOURCES)}")
    source = SOURCES[name]
    values = _options(name, options)
    val_fraction = values.pop("val_fraction")
    if name == "file":
        task = values.pop("task")
        x, y = source.make(cache_dir=cache_dir, **values)
    else:
        task = source.task
        x, y = source.make(seed, **values)
    x = np.asarray(x, dtype=np.float64)
    if not np.isfinite(x).all():
        raise ConfigError("path", "features hold NaN or infinite values")
    y, classes = _targets(y, task)
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = _validation_size(len(x), val_fraction)
    val, train = order[:n_val], order[n_val:]
    mean, std = x[train].mean(axis=0), x[train].std(axis=0)
    std[std == 0] = 1.0  # constant features (digits' blank border pixels) stay 0
    x = (x - mean) / std
    parts = (x[train], y[train], x[val], y[val])
    digest = hashlib.sha256()
    for part in parts:
        digest.update(f"{part.dtype.str}{part.shape}".encode())
        digest.update(np.ascontiguousarray(part).tobytes())
    return Dataset(name, task, *parts, classes=classes, description=source.description,
                   content_hash=digest.hexdigest())


def shape(facts: FileFacts, seed: int = 0, **options: Any) -> DatasetShape:
    """A pushed file as validating a run needs it (task, training-set size, input and output
    widths), from its facts instead of its arrays: the answers, and the errors, that
    ``load("file", …)`` gives for the file itself. ``options`` pin it (``dataset`` is the
    pinned reference); ``seed`` only shuffles, so the sizes do not depend on it."""
    try:
        values = _options("file", options)
        if values["dataset"] is None or values["path"] is not None:
            raise ConfigError("path", ONE_FILE)
        n_train = facts.rows - _validation_size(facts.rows, values["val_fraction"])
        classes = _class_count(facts.classes, values["task"], "dataset")
    except ConfigError as exc:
        raise exc.within("dataset") from None
    pinned = {k: values[k] for k in ("dataset", "label") if values[k] is not None}
    return DatasetShape("file", values["task"], n_train, facts.features, classes, pinned)


def _options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    return validate({**SOURCES[name].options, "val_fraction": VAL_FRACTION}, options,
                    f"dataset {name!r}")


def _validation_size(n: int, val_fraction: float) -> int:
    n_val = max(1, int(round(n * val_fraction)))
    if n - n_val < 1:
        raise ConfigError("val_fraction", f"leaves no training examples out of {n}")
    return n_val


WHOLE_LABELS = ("classification labels must be whole numbers; use task 'regression' for "
                "continuous targets")
TWO_LABELS = "classification needs at least two distinct labels"


def _class_count(distinct: int | None, task: str, field: str) -> int:
    """The classes of ``distinct`` labels (None: not whole numbers) for ``task``."""
    if task == "regression":
        return 0
    if distinct is None:
        raise ConfigError("task", WHOLE_LABELS)
    if distinct < 2:
        raise ConfigError(field, TWO_LABELS)
    return distinct


def _targets(y: np.ndarray, task: str) -> tuple[np.ndarray, int]:
    y = np.asarray(y)
    if task == "regression":
        if not np.isfinite(y.astype(np.float64)).all():
            raise ConfigError("path", "targets hold NaN or infinite values")
        return y.astype(np.float64), 0
    if not np.all(np.equal(np.mod(y, 1), 0)):
        raise ConfigError("task", WHOLE_LABELS)
    values, labels = np.unique(y.astype(np.int64), return_inverse=True)
    return labels.astype(np.int64), _class_count(len(values), task, "path")


def describe() -> dict[str, Any]:
    """For the catalog: each dataset's task, description and options."""
    return {name: {"task": s.task or "classification or regression",
                   "description": s.description,
                   "options": {k: h.describe() for k, h in
                               {**s.options, "val_fraction": VAL_FRACTION}.items()}}
            for name, s in SOURCES.items()}


__all__ = ["Dataset", "DatasetShape", "FileFacts", "SOURCES", "describe", "load", "shape"]
