"""The request floor (issue 15, performance): optrack's per-request latency against a bare
reference — a minimal FastAPI + uvicorn app of its own process (``bench._floor_app``) that looks
up a sha256-hashed bearer token and inserts points with one ``executemany`` in one transaction,
on the same database engine: what the stack itself can do.

    python -m bench.request_floor [--quick] [--postgresql] [--block N]

Rows: authenticated ``GET /me``; ``GET /runs/{id}`` (the bare app: one row selected by id);
metrics writes of 1, 1,000 and 10,000 points to an external run, fresh steps every request;
then 4 clients posting 10,000-point batches at once, points/s (``bench/_floor_throughput.py``).
The two servers are interleaved in blocks of ``--block`` requests, one keep-alive
``httpx.Client`` each, after a warm-up. Each cell: median and p10–p90 of the client-side
latency in ms; ratio = optrack median / bare median (target ≤ 1.5×); and each server process's
CPU time per request (from /proc, summed over its timed blocks), which a busy machine disturbs
less than latency.

A benchmark, not a test: it prints figures and exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import os
import platform
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import httpx

from tests.harness import Server, temp_database
from tests.harness.processes import child_env, cpu_seconds, free_port, spawn, stop_process

from . import _floor_app
from ._format import say
from ._floor_throughput import Target, concurrent_ingest, summary
from ._stats import Samples

TARGET = 1.5
THROUGHPUT_GOAL = {"sqlite": 250_000, "postgresql": 150_000}  # points/s, 4 clients
# (label, points per request or None for a read, requests per contender, full / quick)
ROWS = (("GET /me", "me", 300, 60), ("GET /runs/{id}", "run", 300, 60),
        ("metrics write, 1 point", 1, 300, 60), ("metrics batch, 1,000 points", 1000, 60, 16),
        ("metrics batch, 10,000 points", 10_000, 16, 6))


@dataclasses.dataclass
class Latency(Samples):
    samples: list[float] = dataclasses.field(default_factory=list)
    cpu_seconds: float = 0.0  # the server process's CPU time over the timed requests

    @property
    def cpu_ms(self) -> float:
        """The server's CPU time per request, ms: steadier than latency on a busy machine."""
        return self.cpu_seconds * 1e3 / len(self.samples)

    def cell(self) -> str:
        return f"{self.median:8.2f} ({self.quantile(0.1):.2f}–{self.quantile(0.9):.2f})"


class BareServer:
    """``bench._floor_app`` under uvicorn over ``target`` (a SQLite file or a PostgreSQL URL),
    started as ``Server`` starts optrack's (same environment, no access log)."""

    def __init__(self, target: str, data_dir: Path):
        self.target, self.log_path = target, data_dir / "floor.log"
        self.token = secrets.token_urlsafe(32)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def __enter__(self) -> "BareServer":
        _floor_app.setup(self.target, self.token)
        env = child_env({"FLOOR_DATABASE": self.target})
        self.proc = spawn([sys.executable, "-m", "uvicorn", "--factory",
                           "bench._floor_app:app_from_env", "--host", "127.0.0.1",
                           "--port", str(self.port), "--log-level", "warning",
                           "--no-access-log"], self.log_path, env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the bare app exited:\n{self.log_path.read_text()[-3000:]}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            time.sleep(0.05)
        raise RuntimeError("the bare app did not come up in 60 s")

    def __exit__(self, *exc) -> None:
        stop_process(self.proc)


@dataclasses.dataclass
class Contender:
    name: str
    client: httpx.Client
    run_id: str
    pid: int
    steps: itertools.count = dataclasses.field(default_factory=itertools.count)

    def request(self, what: str | int) -> None:
        """One request of a row; a metrics write takes steps no request has used."""
        if what == "me":
            response = self.client.get("/api/v1/me")
        elif what == "run":
            response = self.client.get(f"/api/v1/runs/{self.run_id}")
        else:
            first = next(self.steps) * 10_000
            points = [{"key": "loss", "step": first + i, "value": 0.5 + i * 1e-6}
                      for i in range(what)]
            response = self.client.post(f"/api/v1/runs/{self.run_id}/metrics",
                                        json={"metrics": points})
        response.raise_for_status()


def contender(name: str, url: str, token: str, pid: int,
              stack: contextlib.ExitStack) -> Contender:
    client = stack.enter_context(httpx.Client(
        base_url=url, headers={"authorization": f"Bearer {token}"}, timeout=120))
    created = client.post("/api/v1/runs", json={"name": "request floor"})
    created.raise_for_status()
    return Contender(name, client, created.json()["id"], pid)


def measure(contenders: list[Contender], what: str | int, n: int, block: int,
            warmup: int) -> dict[str, Latency]:
    """``n`` timed requests per contender, alternating blocks of ``block`` (the first
    contender alternates too), after ``warmup`` untimed ones each."""
    out = {c.name: Latency() for c in contenders}
    for c in contenders:
        for _ in range(warmup):
            c.request(what)
    for b in range(-(-n // block)):
        order = contenders if b % 2 == 0 else contenders[::-1]
        for c in order:
            cpu = cpu_seconds(c.pid)
            for _ in range(min(block, n - b * block)):
                started = time.perf_counter()
                c.request(what)
                out[c.name].samples.append((time.perf_counter() - started) * 1e3)
            out[c.name].cpu_seconds += cpu_seconds(c.pid) - cpu
    return out


def run_rows(contenders: list[Contender], quick: bool, block: int,
             say: Callable[[str], None]) -> list[tuple[str, Latency, Latency]]:
    table = []
    for label, what, full, short in ROWS:
        n = short if quick else full
        warmup = max(2, n // 10)
        got = measure(contenders, what, n, min(block, n), warmup)
        bare, ours = got["bare"], got["optrack"]
        say(f"  {label}: bare {bare.median:.2f} ms, optrack {ours.median:.2f} ms "
            f"({n} requests each)")
        table.append((label, bare, ours))
    return table


def print_table(engine: str, table: list[tuple[str, Latency, Latency]]) -> None:
    print(f"\n{engine}: ms per request, median (p10–p90), client side; ratio = optrack / bare "
          f"medians (target ≤ {TARGET}×)")
    print(f"  {'request':<30} {'bare':>24} {'optrack':>24} {'ratio':>7}   server CPU ms/request: "
          f"bare, optrack, ratio")
    for label, bare, ours in table:
        ratio = ours.median / bare.median
        flag = "" if ratio <= TARGET else "  over target"
        cpu = (f"{bare.cpu_ms:7.2f} {ours.cpu_ms:7.2f} {ours.cpu_ms / bare.cpu_ms:6.2f}×"
               if bare.cpu_seconds > 0 else "")
        print(f"  {label:<30} {bare.cell():>24} {ours.cell():>24} {ratio:6.2f}×   {cpu}{flag}")


def bench_engine(engine: str, quick: bool, block: int) -> tuple[list, str]:
    """Both servers over ``engine`` (databases of their own), measured side by side: the
    latency rows, then concurrent ingest."""
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="floor-")))
        (tmp / "optrack").mkdir()
        url = stack.enter_context(temp_database(engine, tmp / "optrack" if engine == "sqlite"
                                                else None, prefix="optrack_floor"))
        if engine == "sqlite":
            bare_target = str(tmp / "floor.db")
        else:
            bare_target = stack.enter_context(temp_database(engine, prefix="optrack_floor"))
        srv = stack.enter_context(Server(url, tmp / "optrack", quiet=True))
        bare = stack.enter_context(BareServer(bare_target, tmp))
        print(f"  optrack pid {srv.pid} on {srv.url}; bare pid {bare.proc.pid} on {bare.url}")
        contenders = [contender("bare", bare.url, bare.token, bare.proc.pid, stack),
                      contender("optrack", srv.url, srv.token, srv.pid, stack)]
        table = run_rows(contenders, quick, block, say)
        targets = [Target("bare", bare.url, bare.token), Target("optrack", srv.url, srv.token)]
        concurrent_ingest(targets, rounds=1 if quick else 3, seconds=2 if quick else 4, say=say)
        return table, summary(targets, THROUGHPUT_GOAL[engine])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests per row")
    parser.add_argument("--postgresql", action="store_true",
                        help="also both servers on PostgreSQL (OPTRACK_TEST_PG_URL)")
    parser.add_argument("--block", type=int, default=20, help="requests per interleaved block")
    args = parser.parse_args(argv)
    print(f"optrack request floor — python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print("command: python -m bench.request_floor " + " ".join(
        sys.argv[1:] if argv is None else argv))
    engines = ["sqlite"] + (["postgresql"] if args.postgresql else [])
    tables = {}
    for engine in engines:
        print(f"\n{engine}:")
        tables[engine] = bench_engine(engine, args.quick, args.block)
    for engine, (table, throughput) in tables.items():
        print_table(engine, table)
        print(throughput)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
