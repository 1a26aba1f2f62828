"""Checkpoint blobs: content-addressed files under ``<data_dir>/checkpoints``, the latest per
run kept. Names are sha256 hex digests computed here, never paths from a client."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..blobs import write_temp
from ..errors import NotFound, TooLarge
from ..models import Run
from ..ops import instruments


def _dir(data_dir: Path) -> Path:
    path = data_dir / "checkpoints"
    path.mkdir(parents=True, exist_ok=True)
    return path


def store(session: Session, run: Run, data: bytes, step: int, data_dir: Path,
          max_bytes: int) -> str:
    """Write the blob (atomically: temp file, fsync, rename), point the run at it, and delete
    the run's previous blob unless another run still uses it."""
    if len(data) > max_bytes:
        raise TooLarge(f"checkpoint: at most {max_bytes} bytes, got {len(data)}")
    sha = hashlib.sha256(data).hexdigest()
    target = _dir(data_dir) / sha
    if not target.exists():
        os.replace(write_temp(target.parent, data), target)
    instruments.checkpoint_stored(session, len(data))
    previous = run.checkpoint_sha
    run.checkpoint_sha, run.checkpoint_step = sha, step
    if previous and previous != sha:
        others = session.scalar(select(func.count()).select_from(Run).where(
            Run.checkpoint_sha == previous, Run.id != run.id))
        if not others:
            (_dir(data_dir) / previous).unlink(missing_ok=True)
    return sha


def orphaned(session: Session, shas: set[str]) -> set[str]:
    """Those of ``shas`` no run points at any more (after their runs were deleted)."""
    used = set(session.scalars(select(Run.checkpoint_sha).where(Run.checkpoint_sha.in_(shas))))
    return shas - used


def remove(data_dir: Path, shas: set[str]) -> None:
    """Delete blobs (call after the commit that removed their last runs)."""
    for sha in shas:
        (_dir(data_dir) / sha).unlink(missing_ok=True)


def load(run: Run, data_dir: Path) -> bytes:
    if not run.checkpoint_sha:
        raise NotFound(f"run {run.id!r} has no checkpoint")
    path = _dir(data_dir) / run.checkpoint_sha
    if not path.exists():
        raise NotFound(f"checkpoint of run {run.id!r} is missing from the data directory")
    return path.read_bytes()
