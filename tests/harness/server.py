"""The API as a process of its own: ``python -m uvicorn --factory service.app:app_from_env`` on a
free port over one database, as it is deployed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from .internals import ALL_SCOPES, APP_FACTORY, migrate_database, superuser_token
from .processes import child_env, cpu_seconds, free_port, spawn, stop_process, wait_until

ENDED = {"succeeded", "failed", "diverged", "pruned", "cancelled"}


class Server:
    """The server over ``db_url`` with ``settings`` (each as OPTRACK_<NAME>), its data and its
    log (``<name>.log``) in ``data_dir``. It keeps its port across ``kill`` and ``start``, so
    workers carry on against the same URL. ``token`` is a superuser's with every scope (the
    API helpers and ``api`` use it), ``worker_token`` one with the worker scope only. ``quiet``
    drops the access log, which costs a benchmark's server time (tests read it)."""

    def __init__(self, db_url: str, data_dir: str | os.PathLike,
                 settings: dict[str, Any] | None = None, name: str = "server",
                 shared: bool = False, quiet: bool = False, factory: str = APP_FACTORY,
                 processes: int = 1):
        self.db_url, self.data_dir = db_url, Path(data_dir)
        self.processes = processes  # uvicorn --workers: API processes sharing the port
        self.factory = factory  # the app factory uvicorn calls (tests may wrap the real one)
        self.settings, self.quiet = dict(settings or {}), quiet
        self.shared = shared  # outlives one test: its workers are stopped gracefully
        # where the server and its workers find "file" datasets (relative paths only)
        self.datasets_dir = self.data_dir / "datasets"
        self.datasets_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.data_dir / f"{name}.log"
        self.proc: subprocess.Popen | None = None
        self.api = httpx.Client(base_url=self.url, timeout=30)
        self.starts = 0
        self.token: str | None = None
        self.worker_token: str | None = None

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- the process ---------------------------------------------------------------------------

    def start(self, wait: bool = True) -> "Server":
        """Spawn the process (again, after ``kill``); with ``wait``, return once /healthz
        answers. Without, start the workers meanwhile (they retry until it answers): the
        processes import in parallel, most of a test's time on a small machine."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self._sign_in()
        env = child_env({"OPTRACK_DATABASE_URL": self.db_url,
                         "OPTRACK_DATA_DIR": str(self.data_dir),
                         "OPTRACK_DATASETS_DIR": str(self.datasets_dir),
                         **{f"OPTRACK_{k.upper()}": str(v) for k, v in self.settings.items()}})
        quiet = ["--log-level", "warning", "--no-access-log"] if self.quiet else []
        many = ["--workers", str(self.processes)] if self.processes > 1 else []
        self.proc = spawn([sys.executable, "-m", "uvicorn", "--factory", self.factory,
                           "--host", "127.0.0.1", "--port", str(self.port), *quiet, *many],
                          self.log_path, env)
        self.starts += 1
        return self.wait_ready() if wait else self

    def wait_ready(self, timeout: float = 60) -> "Server":
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the API exited with {self.proc.returncode}:\n"
                                   f"{self.log()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the API did not come up in {timeout:.0f} s:\n"
                                   f"{self.log()[-3000:]}")
            time.sleep(0.05)

    def _sign_in(self) -> None:
        """Migrate the database as the server would and make the tokens, once: before the
        first start, so that workers can be given theirs while the server still imports."""
        if self.token is None:
            migrate_database(self.db_url)
            self.token = superuser_token(self.db_url, ALL_SCOPES)
            self.worker_token = superuser_token(self.db_url, ("worker",))
            self.api.headers["authorization"] = f"Bearer {self.token}"

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, as a crash."""
        if self.proc is not None:
            stop_process(self.proc, signal.SIGKILL)

    def restart(self, wait: bool = True) -> "Server":
        """Killed and started again on the same port and database."""
        self.kill()
        return self.start(wait=wait)

    def stop(self) -> None:
        # SIGKILL too: a graceful stop would wait for the long-polling lease calls
        self.kill()
        self.api.close()

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def access_log(self, pattern: str) -> list[str]:
        return [line for line in self.log().splitlines() if re.search(pattern, line)]

    def rss_bytes(self) -> int | None:
        """The process's resident memory (VmRSS), None once it is gone."""
        try:
            with open(f"/proc/{self.pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            return None
        return None

    def cpu_seconds(self) -> float | None:
        """User + system CPU time the server's processes have used so far, None once it is
        gone."""
        return cpu_seconds(self.pid, children=self.processes > 1)

    # -- the API, as the superuser -------------------------------------------------------------

    @property
    def headers(self) -> dict[str, str]:
        """Authorization headers for other clients (a token with every scope)."""
        return {"authorization": f"Bearer {self.token}"}

    def submit(self, body: dict[str, Any]) -> list[str]:
        """Submit an experiment; its run ids."""
        response = self.api.post("/api/v1/experiments", json=body)
        assert response.status_code == 201, response.text
        return response.json()["run_ids"]

    def run(self, run_id: str) -> dict[str, Any]:
        response = self.api.get(f"/api/v1/runs/{run_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def cancel(self, run_id: str) -> httpx.Response:
        return self.api.post(f"/api/v1/runs/{run_id}/cancel")

    def wait_ended(self, run_ids: list[str], timeout: float = 90) -> dict[str, dict]:
        """Poll until every run has ended; run id → run."""
        ended: dict[str, dict] = {}

        def check():
            for run_id in run_ids:
                if run_id not in ended:
                    run = self.run(run_id)
                    if run["status"] in ENDED:
                        ended[run_id] = run
            return len(ended) == len(run_ids)
        wait_until(check, timeout, f"{len(run_ids) - len(ended)} of {len(run_ids)} runs to end",
                   interval=0.1)
        return ended

    def history(self, run_id: str, keys: list[str]) -> dict[str, dict[str, Any]]:
        """key → series (steps, values, total_points, downsampled), every point."""
        response = self.api.get(f"/api/v1/runs/{run_id}/metrics",
                                params={"keys": keys, "max_points": 10000})
        assert response.status_code == 200, response.text
        return {s["key"]: s for s in response.json()["series"]}

    def points(self, run_id: str, key: str = "train_loss") -> int:
        return self.history(run_id, [key])[key]["total_points"]

    def max_step(self, run_id: str, key: str = "train_loss") -> int:
        steps = self.history(run_id, [key])[key]["steps"]
        return steps[-1] if steps else -1
