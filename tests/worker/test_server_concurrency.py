"""The API server under worker traffic that waits: a slow checkpoint download, a checkpoint
upload waiting for the database, and many idle workers long-polling for a lease. Each must
leave the rest of the API — other workers' heartbeats, /healthz — answering promptly.

One real server process (SQLite, where the database has a single writer) for the module; this
test speaks the worker protocol itself so it controls the timing exactly."""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time

import httpx
import pytest

from ..harness import Server
from .conftest import SPIRAL

W = "/api/v1/worker"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("concurrency")
    server = Server(f"sqlite:///{data_dir / 'optrack.db'}", data_dir,
                    {"lease_seconds": 120}, name="server")
    server.start()
    yield server
    server.stop()


def leased_runs(srv: Server, n: int, prefix: str) -> list[str]:
    """Submit ``n`` runs and lease each to a worker id of our own (attempt 1)."""
    run_ids = srv.submit({"name": prefix, "dataset": SPIRAL,
                          "model": {"kind": "mlp", "hidden": [4]},
                          "optimizer": {"name": "sgd", "lr": 0.1},
                          "training": {"epochs": 1, "seed": list(range(n))}})
    got = set()
    for i in range(n):
        response = srv.api.post(f"{W}/lease", json={"worker_id": f"{prefix}-{i}", "wait": 0})
        assert response.status_code == 200, response.text
        got.add(response.json()["run_id"])
    assert got == set(run_ids)
    return run_ids


def timed(call) -> tuple[float, object]:
    started = time.monotonic()
    try:
        result = call()
    except httpx.TimeoutException as exc:
        result = exc
    return time.monotonic() - started, result


def heartbeat(srv: Server, run_id: str, timeout: float):
    return httpx.post(f"{srv.url}{W}/runs/{run_id}/heartbeat", json={"attempt": 1},
                      timeout=timeout, headers=srv.headers)


def test_a_slow_checkpoint_download_does_not_hold_the_database(srv):
    """A worker resuming a run downloads its checkpoint over a slow link. The download must not
    keep a database transaction open (on SQLite: the one write lock) while the bytes trickle
    out, or every other worker's heartbeat and metrics wait behind it."""
    slow_run, other_run = leased_runs(srv, 2, "slow-download")
    blob = os.urandom(12 * 2**20)  # under the 16 MiB request limit
    put = srv.api.put(f"{W}/runs/{slow_run}/checkpoint", params={"attempt": 1, "step": 1},
                      content=blob, headers={"content-type": "application/octet-stream"})
    assert put.status_code == 200, put.text

    reader = socket.socket()
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    reader.connect(("127.0.0.1", srv.port))
    try:
        reader.sendall(f"GET {W}/runs/{slow_run}/checkpoint?attempt=1 HTTP/1.1\r\n"
                       f"Host: 127.0.0.1\r\nAuthorization: Bearer {srv.token}\r\n\r\n".encode())
        assert reader.recv(1024).startswith(b"HTTP/1.1 200")  # then it stops reading
        time.sleep(0.3)
        took, response = timed(lambda: heartbeat(srv, other_run, timeout=5))
    finally:
        reader.close()
    assert isinstance(response, httpx.Response) and response.status_code == 200, \
        f"another run's heartbeat waited {took:.1f} s behind a slow checkpoint download"
    assert took < 2, took


def test_a_checkpoint_upload_waiting_for_the_database_does_not_stall_the_api(srv):
    """While an upload waits for the database's write lock (held here by another connection,
    as a long metrics insert would), requests that do not need that lock are served."""
    (run_id,) = leased_runs(srv, 1, "upload-waits")
    lock = sqlite3.connect(srv.db_url.removeprefix("sqlite:///"), isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")
    background: list[threading.Thread] = []
    try:
        # a synchronous route waiting for the lock leaves the API answering …
        background.append(threading.Thread(target=lambda: heartbeat(srv, run_id, timeout=30)))
        background[-1].start()
        time.sleep(0.3)
        took_with_heartbeat, health = timed(lambda: httpx.get(f"{srv.url}/healthz", timeout=3))
        assert isinstance(health, httpx.Response) and health.status_code == 200
        assert took_with_heartbeat < 2, took_with_heartbeat
        # … and so must a checkpoint upload waiting for it
        background.append(threading.Thread(target=lambda: httpx.put(
            f"{srv.url}{W}/runs/{run_id}/checkpoint", params={"attempt": 1, "step": 1},
            content=b"c" * 4096,
            headers={"content-type": "application/octet-stream", **srv.headers},
            timeout=30)))
        background[-1].start()
        time.sleep(0.3)
        took_with_upload, health = timed(lambda: httpx.get(f"{srv.url}/healthz", timeout=3))
    finally:
        time.sleep(0.2)
        lock.execute("ROLLBACK")
        lock.close()
        for thread in background:
            thread.join(timeout=30)
    assert isinstance(health, httpx.Response) and health.status_code == 200, \
        f"/healthz waited {took_with_upload:.1f} s behind a checkpoint upload"
    assert took_with_upload < 2, took_with_upload


def test_idle_workers_long_polling_do_not_starve_the_api(srv):
    """45 idle workers wait in a lease call (nothing is queued). A busy worker's heartbeat and
    /healthz must still be answered at once: waiting for work must not hold the threads every
    other request needs."""
    (busy_run,) = leased_runs(srv, 1, "busy")
    idle, wait = 45, 5
    client = httpx.Client(base_url=srv.url, timeout=30, headers=srv.headers,
                          limits=httpx.Limits(max_connections=idle + 5))
    answers: list[int] = []

    def poll(i: int) -> None:
        answers.append(client.post(f"{W}/lease", json={"worker_id": f"idle-{i}",
                                                       "wait": wait}).status_code)

    pollers = [threading.Thread(target=poll, args=(i,)) for i in range(idle)]
    try:
        for thread in pollers:
            thread.start()
        time.sleep(1.0)  # every poller is inside its lease call by now
        took_beat, beat = timed(lambda: heartbeat(srv, busy_run, timeout=10))
        took_health, health = timed(lambda: httpx.get(f"{srv.url}/healthz", timeout=10))
    finally:
        for thread in pollers:
            thread.join(timeout=30)
        client.close()
    assert answers == [204] * idle
    assert isinstance(beat, httpx.Response) and beat.status_code == 200
    assert took_beat < 2, f"a heartbeat waited {took_beat:.1f} s behind {idle} idle lease calls"
    assert took_health < 2, f"/healthz waited {took_health:.1f} s behind {idle} lease calls"
