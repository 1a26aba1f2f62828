"""Blobs on disk under the data directory (checkpoints, pushed datasets): written to a
temporary file of the blob's own directory, flushed to disk, then renamed into place, so a
reader never sees half a blob and a crash leaves at most a stray temporary file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

TEMP_PREFIX = ".tmp-"


def write_temp(directory: Path, data: bytes) -> Path:
    """``data`` in a new temporary file of ``directory`` (made if missing), on disk: rename it
    into place with ``os.replace``, or unlink it."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=TEMP_PREFIX)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return Path(tmp)
