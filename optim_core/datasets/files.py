"""A user's own dataset: an ``.npz`` with arrays ``x`` and ``y``, or a ``.csv`` with a header
row and a label column. Loaded without pickle; every problem is a ConfigError naming the field."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..errors import ConfigError


def load_file(path: str, label: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    file = Path(path)
    if not file.is_file():
        raise ConfigError("path", f"no such file: {path}")
    if file.suffix == ".npz":
        return _load_npz(file)
    if file.suffix == ".csv":
        return _load_csv(file, label)
    raise ConfigError("path", f"must end in .npz or .csv, got {file.name!r}")


def _load_npz(file: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(file, allow_pickle=False) as data:
            if "x" not in data or "y" not in data:
                raise ConfigError("path", f"an .npz dataset must hold arrays 'x' and 'y', "
                                          f"found {sorted(data.files)}")
            x, y = np.asarray(data["x"]), np.asarray(data["y"])
    except ConfigError:
        raise
    except Exception as exc:  # zipfile/format errors and object arrays (which need pickle)
        raise ConfigError("path", f"is not a readable .npz file: {exc}") from exc
    if x.ndim != 2 or not np.issubdtype(x.dtype, np.number):
        raise ConfigError("path", f"'x' must be a 2-D numeric array, got shape {x.shape} "
                                  f"dtype {x.dtype}")
    if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.number):
        raise ConfigError("path", f"'y' must be a 1-D numeric array with one value per row of "
                                  f"'x' ({len(x)}), got shape {y.shape}")
    return x.astype(np.float64), y


def _load_csv(file: Path, label: str | None) -> tuple[np.ndarray, np.ndarray]:
    with file.open(newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if not header:
            raise ConfigError("path", "the .csv file is empty")
        column = header.index(label) if label in header else None
        if label is not None and column is None:
            raise ConfigError("label", f"no column {label!r} in the header {header}")
        column = len(header) - 1 if column is None else column
        rows = []
        for line_no, row in enumerate(reader, start=2):
            if len(row) != len(header):
                raise ConfigError("path", f"line {line_no} has {len(row)} fields, the header "
                                          f"has {len(header)}")
            try:
                rows.append([float(v) for v in row])
            except ValueError:
                raise ConfigError("path", f"line {line_no} holds a value that is not a number: "
                                          f"{row}") from None
    if len(rows) < 2 or len(header) < 2:
        raise ConfigError("path", "needs a header, at least two data rows and a feature column")
    table = np.array(rows)
    return np.delete(table, column, axis=1), table[:, column]
