"""Child processes of the harness: ports, environments, stopping, polling."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[2]
BLAS_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_env(extra: dict[str, str], threads: int | None = 1) -> dict[str, str]:
    """This process's environment without its OPTRACK_* settings (a developer's shell must not
    leak a database or token into a child), plus ``extra``. ``threads`` caps BLAS: on a small
    machine a server and several workers each spinning up a thread per core only fight; None
    leaves the caps as they are here."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTRACK_")}
    env["PYTHONUNBUFFERED"] = "1"
    if threads is not None:
        env.update(dict.fromkeys(BLAS_THREADS, str(threads)))
    env.update(extra)
    return env


def spawn(args: list[str], log_path: Path, env: dict[str, str]) -> subprocess.Popen:
    """Start ``args`` in the repository root (so this checkout's packages import first), its
    output appended to ``log_path``."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(args, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


def cpu_seconds(pid: int, children: bool = False) -> float | None:
    """User + system CPU time process ``pid`` (and, with ``children``, the processes it
    started: uvicorn's workers) has used so far, None once it is gone."""
    fields = _stat(pid)
    if fields is None:
        return None
    total = int(fields[11]) + int(fields[12])
    if children:
        for entry in os.listdir("/proc"):
            child = _stat(int(entry)) if entry.isdigit() else None
            if child is not None and int(child[1]) == pid:
                total += int(child[11]) + int(child[12])
    return total / os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command (state, ppid, …), None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGKILL, timeout: float = 10) -> None:
    """Send ``sig`` and wait; SIGKILL if it has not exited within ``timeout``."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def wait_until(predicate: Callable[[], Any], timeout: float, what: str,
               interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; AssertionError after ``timeout``
    seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def run_async(coroutine):
    """``asyncio.run(coroutine)`` in a thread of its own, so that it works while an event loop
    runs in the calling thread (Playwright's sync API leaves one running in the test process)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
