"""Concurrent ingest for ``bench.request_floor``: ``CLIENTS`` threads (one keep-alive
``httpx.Client`` each) post pre-serialised 10,000-point batches, each to a run of its own, to
optrack and to the bare reference in turn, so the two meet the same machine. The issue's
throughput target is a figure for optrack alone; the bare reference beside it is the ceiling
the stack itself reaches on this machine."""

from __future__ import annotations

import statistics
import threading
import time
from typing import Callable

import httpx

from .tracking import BATCH, metric_bodies

CLIENTS = 4


class Target:
    """One server: where it is, and runs to post to (a fresh run per batch: every point is
    new, as in a training run's stream)."""

    def __init__(self, name: str, url: str, token: str):
        self.name, self.url = name, url
        self.headers = {"authorization": f"Bearer {token}"}
        self.rates: list[float] = []

    def runs(self, n: int) -> list[str]:
        with httpx.Client(base_url=self.url, headers=self.headers, timeout=60) as client:
            made = [client.post("/api/v1/runs", json={"name": f"throughput {i}"})
                    for i in range(n)]
        for response in made:
            response.raise_for_status()
        return [response.json()["id"] for response in made]


def one_round(target: Target, run_ids: list[str], bodies: list[bytes], seconds: float) -> float:
    """Points stored per second by ``CLIENTS`` clients posting for about ``seconds``."""
    ids = iter(run_ids)
    lock = threading.Lock()
    stored: list[int] = []
    start = threading.Barrier(CLIENTS + 1)
    headers = {**target.headers, "content-type": "application/json"}

    def client_loop(n: int) -> None:
        with httpx.Client(base_url=target.url, headers=headers, timeout=120) as client:
            client.get("/healthz")
            start.wait()
            deadline = time.perf_counter() + seconds
            while time.perf_counter() < deadline:
                with lock:
                    run_id = next(ids)
                response = client.post(f"/api/v1/runs/{run_id}/metrics",
                                       content=bodies[n % len(bodies)])
                response.raise_for_status()
                stored.append(response.json()["inserted"])

    threads = [threading.Thread(target=client_loop, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return sum(stored) / (time.perf_counter() - began)


def concurrent_ingest(targets: list[Target], rounds: int, seconds: float,
                      say: Callable[[str], None]) -> None:
    """``rounds`` rounds per target, interleaved (the order alternates); rates in
    ``Target.rates``."""
    bodies = metric_bodies(BATCH)
    # enough runs for a round at 400k points/s, beyond any rate seen here
    per_round = int(seconds * 400_000 / BATCH) + CLIENTS
    runs = {t.name: t.runs(per_round * (rounds + 1)) for t in targets}
    for t in targets:  # warm-up: connections, caches, the allocator
        one_round(t, runs[t.name][:per_round], bodies, 1.0)
    for r in range(rounds):
        for t in (targets if r % 2 == 0 else targets[::-1]):
            chunk = runs[t.name][per_round * (r + 1):per_round * (r + 2)]
            t.rates.append(one_round(t, chunk, bodies, seconds))
            say(f"  {CLIENTS} clients x {BATCH:,}-point batches, round {r + 1}, {t.name}: "
                f"{t.rates[-1]:,.0f} points/s")


def summary(targets: list[Target], goal: int) -> str:
    bare, ours = (statistics.median(t.rates) for t in targets)
    spread = ", ".join(f"{t.name} {min(t.rates):,.0f}–{max(t.rates):,.0f}" for t in targets)
    return (f"  {CLIENTS} clients x {BATCH:,}-point batches: bare {bare:,.0f} points/s, "
            f"optrack {ours:,.0f} points/s (medians of {len(targets[0].rates)} rounds; "
            f"ranges {spread}) -> optrack at {ours / bare:.2f} of the bare stack; target "
            f">= {goal:,} points/s")
