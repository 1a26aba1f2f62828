"""The real server: ``python -m service.cli serve`` as a subprocess on SQLite, spoken to over
HTTP with httpx; bound to 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from ..harness import REPO, free_port, superuser_token


def listening_addresses(port: int) -> set[str]:
    """Local addresses in LISTEN state on ``port``, from /proc/net/tcp{,6} (Linux)."""
    found = set()
    for name, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                if width == 8:
                    found.add(socket.inet_ntop(socket.AF_INET, bytes.fromhex(address)[::-1]))
                else:
                    raw = b"".join(bytes.fromhex(address[i:i + 8])[::-1] for i in range(0, 32, 8))
                    found.add(socket.inet_ntop(socket.AF_INET6, raw))
    return found


@contextmanager
def serving(tmp_path: Path, *options: str) -> Iterator[tuple[str, int, subprocess.Popen, Path]]:
    """``optrack serve`` with ``options`` (its data in ``tmp_path / "data"``, its output in
    ``tmp_path / "server.log"``) until /healthz answers: (url, port, process, tmp_path).
    SIGTERM at the end."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTRACK_")}
    log = open(tmp_path / "server.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port),
         "--data-dir", str(tmp_path / "data"), *options],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"the server exited with {process.returncode}:\n"
                            f"{(tmp_path / 'server.log').read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("no answer from /healthz within 30 s:\n"
                            f"{(tmp_path / 'server.log').read_text()[-3000:]}")
            time.sleep(0.1)
        yield url, port, process, tmp_path
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        log.close()


@pytest.fixture
def server(tmp_path):
    with serving(tmp_path) as running:
        yield running


def test_serve_answers_over_http_on_loopback_only_and_stops_on_sigterm(server):
    url, port, process, tmp_path = server
    token = superuser_token(f"sqlite:///{tmp_path / 'data' / 'optrack.db'}")
    with httpx.Client(base_url=url, timeout=30,
                      headers={"authorization": f"Bearer {token}"}) as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        ready = http.get("/readyz")
        assert (ready.status_code, ready.json()) == (200, {"status": "ready"})

        created = http.post("/api/v1/experiments", json={
            "name": "over http", "dataset": {"name": "spiral"}, "model": {"kind": "logistic"},
            "optimizer": [{"name": "sgd", "lr": 0.1}, {"name": "adam"}],
            "training": {"epochs": 1, "seed": [0, 1]}})
        assert created.status_code == 201, created.text
        assert created.json()["status_counts"] == {"queued": 4}
        detail = http.get(f"/api/v1/experiments/{created.json()['id']}")
        assert detail.status_code == 200 and len(detail.json()["run_ids"]) == 4

        run = http.post("/api/v1/runs", json={"name": "laptop", "config": {"lr": 0.01}})
        assert run.status_code == 201 and run.json()["status"] == "running"
        rid = run.json()["id"]
        points = [{"key": "loss", "step": s, "value": 1 / (s + 1)} for s in range(1000)]
        logged = http.post(f"/api/v1/runs/{rid}/metrics", json={"metrics": points})
        assert logged.status_code == 200, logged.text
        assert logged.json()["received"] == 1000
        history = http.get(f"/api/v1/runs/{rid}/metrics", params={"max_points": 100}).json()
        [series] = history["series"]
        assert series["total_points"] == 1000 and len(series["steps"]) <= 100
        assert series["steps"][0] == 0 and series["steps"][-1] == 999
        finished = http.post(f"/api/v1/runs/{rid}/finish", json={"summary": {"loss": 0.001}})
        assert finished.json()["status"] == "succeeded"
        missing = http.get("/api/v1/runs/nope")
        assert missing.status_code == 404 and set(missing.json()) == {"error"}

    # bound to the loopback interface only (the default --host)
    assert listening_addresses(port) == {"127.0.0.1"}
    assert (tmp_path / "data" / "optrack.db").exists()
    assert process.poll() is None

    # and it stops cleanly on SIGTERM
    process.send_signal(signal.SIGTERM)
    # uvicorn shuts down gracefully, then re-raises the signal it caught (exit status -15)
    assert process.wait(15) in (0, -signal.SIGTERM)
    log = (tmp_path / "server.log").read_text()
    assert "Application shutdown complete" in log or "Finished server process" in log, log
    assert "Traceback" not in log, log
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/healthz", timeout=1)
