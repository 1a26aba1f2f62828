"""Idle workers on PostgreSQL (issue 15): many workers long-polling several API processes.

    python -m bench.idle_workers [--workers 500] [--processes 4] [--submissions 50]
                                 [--requests 100] [--cycles 2] [--database optrack_idle]

``optrack serve --workers N`` (``python -m service.cli serve``, this checkout) over a new
PostgreSQL database ``--database`` (dropped at the end). Simulated idle workers
(bench/_idle_pollers.py: asyncio httpx tasks in 2 processes, the worker protocol with a worker
token, a connection each) long-poll the lease endpoint. ``--cycles`` times, interleaved:

- without workers: ``--requests`` rounds of the API's other requests, each round one
  ``GET /api/v1/me``, one ``GET /api/v1/runs/{id}`` and one 1-point metrics write to an
  external run (fresh step), one keep-alive httpx client, client-side latency;
- with ``--workers`` workers (started, then 3 s for them all to be waiting): the same rounds,
  then ``--submissions / cycles`` one-run experiments (the point model, 5 steps), 0.2–0.6 s
  apart; lease latency = from just before ``POST /api/v1/experiments`` until a simulated
  worker has the lease response in hand (its wall clock; one machine). The worker that gets
  it finishes it at once.

A thread samples ``pg_stat_activity`` for the database every 100 ms: the most connections
seen with and without workers, against what the pools allow (N processes x (pool_size +
max_overflow) of service/db.py). Targets: lease p99 ≤ 200 ms; other requests' p50 with
workers within 1.2x of without; connections bounded by the pools, not by the workers.
A benchmark, not a test: it prints figures and exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.harness import ALL_SCOPES, REPO, superuser_token, wait_until
from tests.harness.internals import migrate_database
from tests.harness.processes import child_env, free_port

from ._format import say
from ._idle_pollers import READY_LINE
from ._pg import admin_engine, connections, database
from ._stats import Samples

POOL_PER_PROCESS = 10 + 20  # service/db.py: pool_size + max_overflow
TINY = {"model": {"kind": "point"}, "optimizer": {"name": "adam", "lr": 0.1},
        "training": {"steps": 5}}
REQUESTS = ("GET /me", "GET /runs/{id}", "metrics write, 1 point")
POLLER_PROCESSES = 2


@dataclass
class Latency(Samples):
    samples: list[float] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)  # requests answered with an error

    def cell(self) -> str:
        return (f"p50 {self.median:6.1f}  p99 {self.quantile(0.99):6.1f}  max {self.max:6.1f}"
                f" ms (n={len(self.samples)})")


class Serve:
    """``python -m service.cli serve --workers N`` in a process group of its own."""

    def __init__(self, url: str, data_dir: Path, processes: int):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = child_env({"OPTRACK_DATABASE_URL": url, "OPTRACK_DATA_DIR": str(data_dir)})
        self.log = open(data_dir / "serve.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve", "--port", str(self.port),
             "--workers", str(processes)], cwd=REPO, env=env, stdout=self.log,
            stderr=subprocess.STDOUT, start_new_session=True)

        def healthy():
            assert self.proc.poll() is None, "serve exited"
            try:
                return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False
        wait_until(healthy, 60, "serve to answer", interval=0.2)

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        # the supervisor may be gone with worker processes still in the group (seen: four
        # uvicorn workers left running after a run); nothing of the group outlives the bench
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.log.close()


class Pollers:
    """``count`` simulated workers in ``POLLER_PROCESSES`` processes; their leases land in
    files read by ``received``."""

    def __init__(self, base: str, token: str, count: int, out_dir: Path, cycle: int):
        self.files = [out_dir / f"leases-{cycle}-{p}.txt" for p in range(POLLER_PROCESSES)]
        share = [count // POLLER_PROCESSES + (p < count % POLLER_PROCESSES)
                 for p in range(POLLER_PROCESSES)]
        self.procs = [subprocess.Popen(
            [sys.executable, "-m", "bench._idle_pollers", "--server", base, "--token", token,
             "--count", str(n), "--out", str(path), "--name", f"c{cycle}p{p}"], cwd=REPO,
            env=child_env({})) for p, (n, path) in enumerate(zip(share, self.files))]
        wait_until(lambda: all(f.exists() and READY_LINE in f.read_text()
                               for f in self.files), 60, "the pollers to start")
        time.sleep(3)  # their first lease calls are all waiting by now

    def received(self) -> dict[str, float]:
        out = {}
        for path in self.files:
            for line in path.read_text().splitlines():
                if not line.startswith("#"):
                    run_id, at = line.split()
                    out[run_id] = float(at)
        return out

    def stop(self) -> list[str]:
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        return [line for f in self.files for line in f.read_text().splitlines()
                if line.startswith("# statuses")]


class ConnectionSampler(threading.Thread):
    """The most sessions connected to ``name``, per phase label."""

    def __init__(self, name: str):
        super().__init__(daemon=True)
        self.name, self.phase = name, "start"
        self.most: dict[str, int] = defaultdict(int)
        self.stopping = threading.Event()

    def run(self) -> None:
        engine = admin_engine()
        with engine.connect() as conn:
            while not self.stopping.wait(0.1):
                seen = connections(conn, self.name)
                self.most[self.phase] = max(self.most[self.phase], seen)
        engine.dispose()


def other_requests(client: httpx.Client, run_id: str, rounds: int, steps,
                   into: dict[str, Latency]) -> None:
    """Failed requests are counted (``failed``), not timed."""
    calls = (lambda: client.get("/api/v1/me"), lambda: client.get(f"/api/v1/runs/{run_id}"),
             lambda: client.post(f"/api/v1/runs/{run_id}/metrics", json={"metrics": [
                 {"key": "loss", "step": next(steps), "value": 0.5}]}))
    for i in range(rounds):
        for k in ((i + j) % len(calls) for j in range(len(calls))):
            t0 = time.perf_counter()
            try:
                status = calls[k]().status_code
            except httpx.TransportError:
                status = 0  # the connection was reset or timed out
            if 0 < status < 400:
                into[REQUESTS[k]].samples.append((time.perf_counter() - t0) * 1000)
            else:
                into[REQUESTS[k]].failed.append(status)


def lease_latency(client: httpx.Client, pollers: Pollers, n: int, into: Latency) -> None:
    """A failed submission, or a run no worker got within a minute, counts as ``failed``."""
    for i in range(n):
        time.sleep(random.uniform(0.2, 0.6))
        t0 = time.time()
        r = client.post("/api/v1/experiments", json={"name": f"idle {i}", **TINY})
        if r.status_code != 201:
            into.failed.append(r.status_code)
            continue
        (run_id,) = r.json()["run_ids"]
        try:
            at = wait_until(lambda: pollers.received().get(run_id), 60, f"{run_id}'s lease")
        except AssertionError:
            into.failed.append(0)
            continue
        into.samples.append((at - t0) * 1000)


def measure(base: str, tokens: tuple[str, str], args, out_dir: Path,
            sampler: ConnectionSampler) -> tuple[dict, dict, Latency]:
    without = {r: Latency() for r in REQUESTS}
    with_workers = {r: Latency() for r in REQUESTS}
    leases = Latency()
    steps = itertools.count()
    with httpx.Client(base_url=base, headers={"authorization": f"Bearer {tokens[0]}"},
                      timeout=120) as client:
        run_id = client.post("/api/v1/runs", json={"name": "idle workers"}).json()["id"]
        other_requests(client, run_id, 10, steps, {r: Latency() for r in REQUESTS})  # warm-up
        for cycle in range(args.cycles):
            sampler.phase = "0 workers"
            other_requests(client, run_id, args.requests, steps, without)
            say(f"  cycle {cycle + 1}: without workers done")
            sampler.phase = "starting"
            pollers = Pollers(base, tokens[1], args.workers, out_dir, cycle)
            sampler.phase = f"{args.workers} workers"
            try:
                other_requests(client, run_id, args.requests, steps, with_workers)
                lease_latency(client, pollers, args.submissions // args.cycles, leases)
            finally:
                sampler.phase = "stopping"
                for line in pollers.stop():
                    say(f"  cycle {cycle + 1}, {args.workers} workers: {line[2:]}")
    return without, with_workers, leases


def report(args, without, with_workers, leases, most) -> None:
    say(f"\nlease latency, {args.workers} idle workers, {args.processes} API processes: "
        f"{leases.cell()}; target p99 ≤ 200 ms: "
        f"{'meets' if leases.quantile(0.99) <= 200 else 'MISSES'}"
        + (f"; {len(leases.failed)} submissions failed or were not leased in 60 s"
           if leases.failed else ""))
    say("  slowest: " + ", ".join(f"{ms:.0f}" for ms in sorted(leases.samples)[-5:]) + " ms")
    say("other requests, p50 ms (p10–p90), without → with workers (target ratio ≤ 1.2):")
    for name in REQUESTS:
        a, b = without[name], with_workers[name]
        ratio = b.median / a.median
        say(f"  {name:<24} {a.median:6.2f} ({a.quantile(0.1):.2f}–{a.quantile(0.9):.2f}) → "
            f"{b.median:6.2f} ({b.quantile(0.1):.2f}–{b.quantile(0.9):.2f})  {ratio:.2f}×"
            + ("" if ratio <= 1.2 else "  over target")
            + (f"  ({len(b.failed)} failed with workers)" if b.failed else ""))
    bound = args.processes * POOL_PER_PROCESS
    say("PostgreSQL connections to the database, most seen: "
        + ", ".join(f"{phase} {n}" for phase, n in most.items())
        + f"; the pools allow {args.processes} x {POOL_PER_PROCESS} = {bound}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=500)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--submissions", type=int, default=50)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--cycles", type=int, default=2)
    parser.add_argument("--database", default="optrack_idle")
    args = parser.parse_args(argv)
    say(f"optrack idle-workers benchmark — python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    say("command: python -m bench.idle_workers " + " ".join(
        sys.argv[1:] if argv is None else argv))
    with tempfile.TemporaryDirectory(prefix="idle-") as tmp, \
            database(args.database, keep=False) as url:
        migrate_database(url)
        tokens = (superuser_token(url, ALL_SCOPES), superuser_token(url, ("worker",)))
        sampler = ConnectionSampler(args.database)
        sampler.start()
        serve = Serve(url, Path(tmp), args.processes)
        try:
            figures = measure(serve.url, tokens, args, Path(tmp), sampler)
        finally:
            serve.stop()
            sampler.stopping.set()
            sampler.join()
    report(args, *figures, dict(sampler.most))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
