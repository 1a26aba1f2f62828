"""A user's own dataset: an ``.npz`` with arrays ``x`` and ``y``, or a ``.csv`` with a header
row and a label column. Loaded without pickle; every problem is a ConfigError naming the field.

A run names the file one of two ways:

- ``path``: relative to the datasets directory (``OPTRACK_DATASETS_DIR``, default
  ``./datasets``), which it cannot leave, so a request cannot make a server or worker read any
  other file; every machine that validates or trains the run needs the file there.
- ``dataset``: a file pushed to the server (pushed.py), which the worker keeps by its sha256.
  Its format is told by its content (an .npz is a zip archive), not by a name."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import IO

import numpy as np

from ..errors import ConfigError

DATASETS_DIR_ENV = "OPTRACK_DATASETS_DIR"
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # an .npz is a zip archive (the second: empty)


def datasets_dir() -> Path:
    return Path(os.environ.get(DATASETS_DIR_ENV, "datasets")).resolve()


def resolve(path: str) -> Path:
    """``path`` inside the datasets directory, or ConfigError."""
    rule = (f"must be a relative path inside the datasets directory ({DATASETS_DIR_ENV}, "
            f"default ./datasets), without '..'")
    relative = Path(path)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise ConfigError("path", f"{rule}, got {path!r}")
    root = datasets_dir()
    try:
        full = (root / relative).resolve()
    except (OSError, RuntimeError) as exc:
        raise ConfigError("path", f"cannot be resolved: {exc.__class__.__name__}") from None
    if root not in full.parents:  # a symlink pointing out
        raise ConfigError("path", f"{rule}, got {path!r}")
    return full


def load_file(path: str, label: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The features and targets of the file at ``path`` in the datasets directory."""
    file = resolve(path)
    try:
        exists = file.is_file()
    except OSError as exc:  # e.g. a name too long for the file system
        raise ConfigError("path", f"cannot be read: {exc.strerror or exc}") from None
    if not exists:
        raise ConfigError("path", f"no such file in the datasets directory: {path}")
    if file.suffix == ".npz":
        return read_npz(file)
    if file.suffix == ".csv":
        try:
            with file.open(newline="") as fh:
                return read_csv(fh, label)[:2]
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError("path", f"cannot be read as CSV text: {exc}") from None
    raise ConfigError("path", f"must end in .npz or .csv, got {file.name!r}")


def file_format(data: bytes) -> str:
    """"npz" for a zip archive, else "csv"."""
    return "npz" if data[:4] in ZIP_MAGIC else "csv"


def read_bytes(data: bytes, label: str | None) -> tuple[np.ndarray, np.ndarray, str | None]:
    """A file's features, targets and label column (None for an .npz), its format told by its
    content. A UTF-8 byte-order mark before a CSV header is allowed (spreadsheets write one)."""
    if file_format(data) == "npz":
        if label is not None:
            raise ConfigError("label", "an .npz dataset has no label column: its labels are "
                                       "the array 'y'")
        return (*read_npz(io.BytesIO(data)), None)
    try:
        return read_csv(io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline=""),
                        label)
    except UnicodeDecodeError as exc:
        raise ConfigError("path", f"is neither an .npz archive nor CSV text (UTF-8): "
                                  f"{exc}") from None


def read_npz(source: Path | IO[bytes]) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(source, allow_pickle=False) as data:
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


def read_csv(fh: IO[str], label: str | None) -> tuple[np.ndarray, np.ndarray, str]:
    """Features, targets and the label column's name (``label``, default the last)."""
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
    return np.delete(table, column, axis=1), table[:, column], header[column]
