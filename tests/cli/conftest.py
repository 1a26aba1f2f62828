"""Fixtures of the command line's tests: one real server process per engine for the module (a
database of its own), worker processes per test, and the ``optrack`` command run as a process
(``python -m service.cli …``) with the server's URL and a token given as options."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, Iterator

import pytest

from ..harness import REPO, Server, Workers
from ..worker.conftest import shared_server

SPIRAL = {"name": "spiral", "samples": 100}


def tiny(name: str, **overrides: Any) -> dict[str, Any]:
    """An experiment request whose runs train in about a second each."""
    return {"name": name, "dataset": SPIRAL, "model": {"kind": "mlp", "hidden": [16]},
            "optimizer": {"name": "adam", "lr": 0.01}, "training": {"epochs": 3},
            **overrides}


@pytest.fixture(scope="module")
def srv(module_db_url, tmp_path_factory) -> Iterator[Server]:
    """Short leases and quick retries (the workers' tests' settings): a run whose every
    attempt fails ends ``failed`` in well under a second."""
    yield from shared_server(module_db_url, tmp_path_factory.mktemp("cli"), max_attempts=2)


@pytest.fixture
def workers(tmp_path) -> Iterator[Workers]:
    """``workers(srv, n)``; stopped gracefully at teardown (the server outlives the test)."""
    pool = Workers(tmp_path)
    yield pool
    pool.stop()


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTRACK_")}
    return {**env, "COLUMNS": "250", "NO_COLOR": "1", **extra}


def start(srv: Server, *args: str, token: str | None = None, binary: bool = False,
          **env: str) -> subprocess.Popen:
    """``optrack <args> --server URL --token T`` started (T: the superuser's unless given),
    its output piped (as bytes with ``binary``)."""
    return subprocess.Popen([sys.executable, "-m", "service.cli", *args, "--server", srv.url,
                             "--token", token or srv.token], cwd=REPO, env=cli_env(**env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=not binary)


def finish(proc: subprocess.Popen, timeout: float = 90) -> subprocess.CompletedProcess:
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def optrack(srv: Server, *args: str) -> subprocess.CompletedProcess:
    return finish(start(srv, *args))


def succeeded(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, (result.args, result.returncode, result.stdout,
                                    result.stderr[-3000:])
    return result.stdout


def failed(result: subprocess.CompletedProcess, message: str, status: int = 1) -> None:
    """Exit ``status`` with the one line ``error: …<message>…`` on stderr, no traceback."""
    assert result.returncode == status, (result.args, result.returncode, result.stdout,
                                         result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]
