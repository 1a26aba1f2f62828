"""The load ``bench.tracking`` puts on a server: pre-serialised metric batches, external runs
to post them to, ``clients`` threads posting them at once, and a sampler of the server's
resident memory meanwhile."""

from __future__ import annotations

import json
import math
import queue
import random
import threading
import time

import httpx

from tests.harness import Server

KEY = "train_loss"


def metric_bodies(steps: int, variants: int = 8, key: str = KEY) -> list[bytes]:
    """``variants`` distinct pre-serialised batches of ``steps`` points (steps 0..steps-1) of
    ``key``: a noisy decaying loss, as a training loop would log it."""
    rng = random.Random(7)
    t0 = time.time()
    bodies = []
    for v in range(variants):
        rate = 1e-3 * (1 + v)
        points = [{"key": key, "step": s,
                   "value": round(2.5 * math.exp(-rate * s) + 0.05 * rng.random(), 6),
                   "time": round(t0 + 0.01 * s, 3)} for s in range(steps)]
        bodies.append(json.dumps({"metrics": points}, separators=(",", ":")).encode())
    return bodies


def create_runs(client: httpx.Client, n: int, project: str, prefix: str) -> list[str]:
    ids = []
    for i in range(n):
        r = client.post("/api/v1/runs", json={
            "name": f"{prefix} {i}", "project": project, "tags": ["bench"],
            "config": {"optimizer": {"name": "adam", "lr": 1e-3}, "training": {"seed": i}}})
        r.raise_for_status()
        ids.append(r.json()["id"])
    return ids


class RssSampler(threading.Thread):
    def __init__(self, server: Server, interval: float = 0.2):
        super().__init__(daemon=True)
        self.server, self.interval = server, interval
        self.samples: list[tuple[float, int]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            rss = self.server.rss_bytes()
            if rss is not None:
                self.samples.append((time.perf_counter(), rss))
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()
        rss = self.server.rss_bytes()
        if rss is not None:
            self.samples.append((time.perf_counter(), rss))


def post_batches(server: Server, jobs: list[tuple[str, bytes, int]], clients: int,
                 seconds: float | None = None) -> tuple[float, int, list[str], list[str]]:
    """POST every (run id, body, points) with ``clients`` threads, one httpx.Client each; with
    ``seconds``, no batch is started after that long. Return the wall time from the first
    request to the last response, the points stored, the run ids whose batch succeeded and
    the errors."""
    work: queue.SimpleQueue = queue.SimpleQueue()
    for job in jobs:
        work.put(job)
    errors: list[str] = []
    done: list[tuple[str, int]] = []
    start_line = threading.Barrier(clients + 1)
    headers = {"content-type": "application/json"}
    deadline = [math.inf]

    def client_loop() -> None:
        with httpx.Client(base_url=server.url, headers=server.headers, timeout=600.0) as client:
            client.get("/healthz")  # connect before the clock starts
            start_line.wait()
            while time.perf_counter() < deadline[0]:
                try:
                    run_id, body, n = work.get_nowait()
                except queue.Empty:
                    return
                r = client.post(f"/api/v1/runs/{run_id}/metrics", content=body, headers=headers)
                if r.status_code == 200:
                    done.append((run_id, n))
                else:
                    errors.append(f"{r.status_code} {r.text[:200]}")

    threads = [threading.Thread(target=client_loop) for _ in range(clients)]
    for t in threads:
        t.start()
    start_line.wait()
    t0 = time.perf_counter()
    if seconds is not None:
        deadline[0] = t0 + seconds
    for t in threads:
        t.join()
    return (time.perf_counter() - t0, sum(n for _, n in done), [rid for rid, _ in done],
            errors)
