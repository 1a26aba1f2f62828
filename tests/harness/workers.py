"""Worker processes (``python -m worker --server URL --token T``) and what their logs say: the
lines "lease run=… attempt=… worker=…" and "finish run=… attempt=… outcome=…"."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Callable

from .processes import child_env, spawn, stop_process, wait_until
from .server import Server

LEASE_LINE = re.compile(r"lease run=(\w+) attempt=(\d+) worker=(\S+)")
FINISH_LINE = re.compile(r"finish run=(\w+) attempt=(\d+) outcome=(\w+)")
HANDOVER = re.compile(r"finish run=(\w+) attempt=\d+ .* points_with_finish=(\d+) next=(\S+)")


class WorkerProc:
    """One worker of ``srv`` with its worker-only token, logging to ``log_path``; ``threads``
    as in ``child_env``. Its cache of pushed datasets is its own (``cache_dir``, by default
    beside its log), as on a machine of its own."""

    def __init__(self, srv: Server, log_path: Path, threads: int | None = 1,
                 cache_dir: Path | None = None):
        self.srv, self.log_path = srv, log_path
        self.cache_dir = cache_dir or log_path.with_name(f"{log_path.stem}-cache")
        self.proc = spawn([sys.executable, "-m", "worker", "--server", srv.url,
                           "--token", srv.worker_token], log_path,
                          child_env({"OPTRACK_DATASETS_DIR": str(srv.datasets_dir),
                                     "OPTRACK_CACHE_DIR": str(self.cache_dir)}, threads))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def leases(self) -> list[tuple[str, int]]:
        return [(m[0], int(m[1])) for m in LEASE_LINE.findall(self.log())]

    def finishes(self) -> list[tuple[str, int, str]]:
        return [(m[0], int(m[1]), m[2]) for m in FINISH_LINE.findall(self.log())]

    def wait_finished(self, run_id: str, attempt: int | None = None,
                      timeout: float = 10) -> str:
        """The logged outcome of ``run_id`` (of ``attempt``), waiting up to ``timeout``
        seconds for it. The worker logs a finish once the server has answered it, so a run
        can read as ended a moment before its worker's line is written."""
        return wait_until(lambda: self.finished(run_id, attempt), timeout,
                          f"the worker's finish of run {run_id}")

    def handovers(self, run_ids: list[str] = (),
                  timeout: float = 10) -> dict[str, tuple[int, str | None]]:
        """run id → (points sent with its finish, the run leased with the finish's answer),
        waiting up to ``timeout`` seconds for the lines of ``run_ids`` (as ``wait_finished``)."""
        def read():
            found = {m[0]: (int(m[1]), None if m[2] == "-" else m[2])
                     for m in HANDOVER.findall(self.log())}
            return found if all(r in found for r in run_ids) else None
        return wait_until(read, timeout, f"the finish lines of {list(run_ids)}")

    def holds(self, run_id: str, attempt: int | None = None) -> bool:
        return any(r == run_id and (attempt is None or a == attempt) for r, a in self.leases())

    def finished(self, run_id: str, attempt: int | None = None) -> str | None:
        """The logged outcome of ``run_id`` (of ``attempt``), None if not finished."""
        for r, a, outcome in self.finishes():
            if r == run_id and (attempt is None or a == attempt):
                return outcome
        return None

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        stop_process(self.proc, signal.SIGKILL)

    def terminate(self) -> None:
        self.proc.send_signal(signal.SIGTERM)


class Workers:
    """Every worker started through it, logs in ``log_dir`` (worker-<n>.log)."""

    def __init__(self, log_dir: Path, threads: int | None = 1):
        self.log_dir, self.threads = Path(log_dir), threads
        self.started: list[WorkerProc] = []

    def __call__(self, srv: Server, n: int = 1,
                 cache_dir: Path | None = None) -> list[WorkerProc]:
        """``n`` workers; ``cache_dir``: one they share, as on one machine."""
        made = [WorkerProc(srv, self.log_dir / f"worker-{len(self.started) + i}.log",
                           self.threads, cache_dir) for i in range(n)]
        self.started += made
        return made

    def stop(self, graceful: Callable[[WorkerProc], bool] = lambda w: True) -> None:
        """SIGTERM once to the ``graceful`` ones still alive (a second SIGTERM makes a worker
        exit at once) and wait for them, then SIGKILL whatever is left."""
        polite = [w for w in self.started if graceful(w) and w.alive]
        for worker in polite:
            worker.terminate()
        for worker in polite:
            try:
                worker.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        for worker in self.started:
            worker.kill()

    def holder(self, run_id: str, attempt: int | None = None) -> WorkerProc | None:
        for worker in self.started:
            if worker.holds(run_id, attempt):
                return worker
        return None
