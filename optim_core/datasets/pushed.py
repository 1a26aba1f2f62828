"""Datasets pushed to the server: the references runs name them by, what is known of a pushed
file without its arrays (its facts, found once when it is pushed), and reading one from a
worker's cache.

A run names a pushed dataset ``{"name": "file", "dataset": REF}``, REF being the dataset's name
in its project, its sha256 (64 hex digits), or both as ``name@sha256``: the pinned form the
service writes into every run it stores, so that a queued run trains on exactly that content
whatever is pushed later. A worker keeps pushed files in its cache directory, each named by its
sha256 (worker/datasets.py downloads them)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from .files import file_format, read_bytes

SHA256 = re.compile(r"[0-9a-f]{64}")


def parse_ref(ref: str) -> tuple[str | None, str | None]:
    """(name, sha256) of a reference, either None where the reference does not say."""
    name, at, digest = ref.rpartition("@")
    if not at:
        return (None, ref) if SHA256.fullmatch(ref) else (ref, None)
    if not name or not SHA256.fullmatch(digest):
        raise ConfigError("dataset", f"a pinned reference is name@sha256 (64 lowercase hex "
                                     f"digits), got {ref!r}")
    return name, digest


def pinned_ref(name: str, sha256: str) -> str:
    return f"{name}@{sha256}"


@dataclass(frozen=True)
class FileFacts:
    """What validating runs needs to know of a pushed file, found when it is pushed."""

    format: str  # "npz" or "csv"
    rows: int
    features: int
    label: str | None  # a .csv file's label column
    classes: int | None  # distinct labels when they are whole numbers (else: regression only)


@dataclass(frozen=True)
class DatasetShape:
    """A dataset as the validation of a run sees it, without its arrays: the answers a Dataset
    gives ``training.resolve``."""

    name: str
    task: str
    n_train: int
    input_dim: int
    classes: int  # 0 for regression
    pinned: dict[str, Any]  # the options that pin its content, written into the run's config

    @property
    def output_dim(self) -> int:
        return self.classes if self.task == "classification" else 1


def inspect(data: bytes, label: str | None = None) -> FileFacts:
    """Read a file being pushed (never with pickle) and say what it holds: ConfigError naming
    ``file`` or ``label`` when it is not a dataset every run could train on."""
    try:
        x, y, column = read_bytes(data, label)
    except ConfigError as exc:
        raise ConfigError("file" if exc.field == "path" else exc.field, exc.rule) from None
    if len(x) < 2 or x.shape[1] < 1:
        raise ConfigError("file", f"needs at least two rows and one feature, got shape "
                                  f"{x.shape}")
    if not np.isfinite(x).all():
        raise ConfigError("file", "features hold NaN or infinite values")
    y = y.astype(np.float64)
    if not np.isfinite(y).all():
        raise ConfigError("file", "targets hold NaN or infinite values")
    whole = bool(np.all(np.mod(y, 1) == 0))
    return FileFacts(file_format(data), len(x), x.shape[1], column,
                     len(np.unique(y)) if whole else None)


def load_cached(ref: str, label: str | None,
                cache_dir: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """The arrays of a pushed file, from the cache directory of the worker that trains it."""
    _, digest = parse_ref(ref)
    if digest is None:
        raise ConfigError("dataset", f"{ref!r} is not pinned to its content (name@sha256): "
                                     f"submit the run through the service, which pins it")
    if cache_dir is None:
        raise ConfigError("dataset", "a pushed dataset is read from a worker's dataset cache, "
                                     "and none was given")
    file = Path(cache_dir) / digest
    if not file.is_file():
        raise ConfigError("dataset", f"{digest} is not in the dataset cache {cache_dir}")
    try:
        x, y, _ = read_bytes(file.read_bytes(), label)
    except ConfigError as exc:
        raise ConfigError("dataset" if exc.field == "path" else exc.field, exc.rule) from None
    return x, y
