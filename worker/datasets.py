"""The worker's dataset cache: files pushed to the server, downloaded once per machine and kept
under their sha256 for every later run that trains on them.

The directory is ``--cache-dir``, else ``$OPTRACK_CACHE_DIR``, else ``cache/datasets`` in
``$OPTRACK_DATA_DIR`` (default ``.optrack``). The workers of one machine share it: a file lock
per sha256 lets one of them download while the others wait for its file. A file is checked
against its sha256 when it is downloaded and when a worker process first uses it, so a
damaged cache entry is fetched again rather than trained on."""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
from pathlib import Path
from typing import Any

import optim_core
from optim_core.datasets.pushed import parse_ref
from optrack.protocol import Lease, WorkerClient

log = logging.getLogger("optrack.worker")

CACHE_DIR_ENV = "OPTRACK_CACHE_DIR"
HASH_CHUNK = 1 << 20  # bytes read at a time when checking a cached file


class DatasetMismatch(Exception):
    """The server's file does not have the sha256 the run pins."""


def default_cache_dir() -> Path:
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV])
    return Path(os.environ.get("OPTRACK_DATA_DIR") or ".optrack") / "cache" / "datasets"


def pushed_sha(config: dict[str, Any]) -> str | None:
    """The sha256 of the pushed dataset a run's config pins (None: it trains on no such file,
    or names it in a way optim_core will refuse when the run starts)."""
    section = config.get("dataset")
    ref = section.get("dataset") if isinstance(section, dict) else None
    if not isinstance(ref, str) or section.get("name") != "file":
        return None
    try:
        return parse_ref(ref)[1]
    except optim_core.ConfigError:
        return None


class DatasetCache:
    """Pushed dataset files by sha256 in ``directory`` (optim_core.train reads them there)."""

    def __init__(self, directory: Path, client: WorkerClient):
        self.directory, self.client = Path(directory), client
        self.verified: set[str] = set()  # checked by this process: not hashed again

    def prepare(self, lease: Lease) -> None:
        """Make the file the leased run trains on (if any) present and checked."""
        sha = pushed_sha(lease.config)
        if sha is None:
            return
        if sha in self.verified:
            log.info("dataset sha=%s cached run=%s", sha, lease.run_id)
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / f".{sha}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when closed
            target = self.directory / sha
            if target.is_file() and _sha256(target) == sha:
                log.info("dataset sha=%s cached run=%s", sha, lease.run_id)
            else:
                self._download(lease, sha, target)
        self.verified.add(sha)

    def _download(self, lease: Lease, sha: str, target: Path) -> None:
        data = self.client.get_dataset(lease.run_id, lease.attempt)
        got = hashlib.sha256(data).hexdigest()
        if got != sha:
            raise DatasetMismatch(f"the server's file of dataset {sha} has sha256 {got}")
        partial = target.with_name(f".tmp-{os.getpid()}-{sha}")
        partial.write_bytes(data)
        os.replace(partial, target)
        log.info("dataset sha=%s downloaded bytes=%d run=%s", sha, len(data), lease.run_id)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
