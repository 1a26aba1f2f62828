"""The SDK's offline spool: a run that cannot (``mode="offline"``) or can no longer reach its
server is written to an append-only file, one JSON line per record, fsynced per batch, under
``$OPTRACK_SPOOL_DIR`` (default ``~/.local/share/optrack/spool``). ``optrack sync`` uploads
spooled runs later, exactly once: the run is created once (its id is appended to the file
before any point is sent), points are sent again only as replays the server ignores, and a
run whose finish is spooled is finished and its file moved to ``done/``.

Records: ``{"kind": "run", "server", "project", "name", "config", "tags", "notes",
"experiment", "run_id"}`` first (``run_id`` null for a run that never reached the server), then
``{"kind": "metrics", "points": […]}``, ``{"kind": "created", "run_id"}`` and at the end
``{"kind": "finish", "status", "error"}``."""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .client import ApiError, Client

BATCH = 10_000  # points per upload (the server's default limit)


def spool_dir() -> Path:
    base = os.environ.get("OPTRACK_SPOOL_DIR")
    if base:
        return Path(base)
    data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data) / "optrack" / "spool"


class Spool:
    """The file of one spooled run, appended to and fsynced record by record."""

    def __init__(self, header: dict[str, Any]):
        folder = spool_dir()
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = folder / f"{uuid.uuid4().hex}.jsonl"
        self._file = open(self.path, "a", encoding="utf-8")
        self.write({"kind": "run", **header})

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


@dataclass
class Spooled:
    """What a spool file holds, read back."""

    path: Path
    header: dict[str, Any]
    run_id: str | None
    batches: list[list[dict[str, Any]]] = field(default_factory=list)
    finish: dict[str, Any] | None = None


def read(path: Path) -> Spooled | None:
    """The records of a spool file; a torn last line (a writer that died mid-line) is left
    out. None for a file without its header."""
    spooled = None
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        kind = record.pop("kind", None)
        if kind == "run":
            spooled = Spooled(path, record, record.get("run_id"))
        elif spooled is None:
            continue
        elif kind == "metrics":
            spooled.batches.append(record["points"])
        elif kind == "created":
            spooled.run_id = record["run_id"]
        elif kind == "finish":
            spooled.finish = record
    return spooled


def sync(server: str | None = None, token: str | None = None) -> list[str]:
    """Upload every spooled run (to ``server``, else the one it was spooled for); the ids of
    the runs finished on the server by this call. Running it again changes nothing."""
    done = []
    for path in sorted(spool_dir().glob("*.jsonl")):
        spooled = read(path)
        if spooled is None:
            continue
        with Client(server or spooled.header.get("server"), token) as client:
            if _upload(client, spooled):
                done.append(spooled.run_id)
    return done


def _upload(client: Client, spooled: Spooled) -> bool:
    """Create (once), send the points, finish; True once the file is done with."""
    if spooled.run_id is None:
        header = spooled.header
        run = client.create_run(header["name"], header.get("project", "default"),
                                header.get("config"), header.get("tags"),
                                header.get("notes", ""), header.get("experiment"))
        with open(spooled.path, "a", encoding="utf-8") as out:  # before any point is sent
            out.write(json.dumps({"kind": "created", "run_id": run["id"]}) + "\n")
            out.flush()
            os.fsync(out.fileno())
        spooled.run_id = run["id"]
    points = [p for batch in spooled.batches for p in batch]
    for start in range(0, len(points), BATCH):
        client.log_metrics(spooled.run_id, points[start:start + BATCH])
    if spooled.finish is None:
        return False  # still being written, or its process died: sync again later
    try:
        client.finish_run(spooled.run_id, spooled.finish["status"], spooled.finish.get("error"))
    except ApiError as exc:
        if exc.status != 409:  # 409: finished already (an earlier sync, or it was pruned)
            raise
    done = spooled.path.parent / "done"
    done.mkdir(exist_ok=True)
    spooled.path.rename(done / spooled.path.name)
    return True
