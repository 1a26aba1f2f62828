"""Queue and worker benchmark: tracking overhead, lease latency, throughput. (Not named
queue.py: a script of that name beside the others would shadow the standard library's queue.)

    python bench/queue_bench.py [--engines sqlite,postgresql] [--runs 1000] [--workers 4]

1. Tracking overhead: a 20-epoch digits run (MLP 100-100, batch 128, checkpoints every epoch)
   through a real server and worker, against ``optim_core.train`` alone with the same config in
   this process; medians of 5 after one warm-up run each. The run's time is the server's
   started_at → finished_at.
2. Lease latency: an idle worker long-polls; we submit a one-run experiment and read
   created_at → started_at from the server, 20 times; median and max.
3. Throughput: ``--runs`` tiny runs (a 2-D point model, 5 steps) through ``--workers`` workers;
   runs/s from submission until every run ended.
A benchmark, not a test: it prints figures and exits 0.
"""

from __future__ import annotations

import sys
from pathlib import Path

import argparse
import os
import platform
import statistics
import subprocess
import tempfile
import time
from datetime import datetime

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import optim_core  # noqa: E402
from bench._server import Server, auth_headers, temp_database  # noqa: E402

TRAIN = {"dataset": "digits", "model": {"kind": "mlp", "hidden": [100, 100]},
         "optimizer": {"name": "adam", "lr": 0.001}, "epochs": 20, "batch_size": 128, "seed": 0}
TINY = {"model": {"kind": "point"}, "optimizer": {"name": "adam", "lr": 0.1},
        "training": {"steps": 5}}


def start_workers(url: str, n: int, log_dir: Path) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-m", "worker", "--server", url],
                             stdout=open(log_dir / f"worker{i}.log", "w"), stderr=subprocess.STDOUT)
            for i in range(n)]


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()


def wait_done(client: httpx.Client, experiment_id: str, total: int, timeout: float = 600) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/experiments/{experiment_id}").json()
        counts = body["status_counts"]
        if sum(v for k, v in counts.items() if k not in ("queued", "running")) >= total:
            return body
        time.sleep(0.05)
    raise TimeoutError(f"experiment {experiment_id} not done: {counts}")


def ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def submit(client: httpx.Client, body: dict) -> dict:
    response = client.post("/api/v1/experiments", json=body)
    response.raise_for_status()
    return response.json()


def overhead(url: str, log_dir: Path, rounds: int = 5) -> tuple[float, float]:
    """Median over ``rounds`` of the same run, alone and through optrack. The first run of
    each side (dataset load, imports, caches) is not counted: a worker loads a dataset once and
    reuses it for every run, as the in-process side does."""
    def alone_once() -> float:
        started = time.perf_counter()
        for _ in optim_core.train(TRAIN):
            pass
        return time.perf_counter() - started

    alone_once()
    alone = statistics.median(alone_once() for _ in range(rounds))
    workers = start_workers(url, 1, log_dir)
    request = {"name": "overhead", "dataset": TRAIN["dataset"], "model": TRAIN["model"],
               "optimizer": TRAIN["optimizer"],
               "training": {k: TRAIN[k] for k in ("epochs", "batch_size", "seed")}}
    tracked = []
    try:
        with httpx.Client(base_url=url, headers=auth_headers(), timeout=60) as client:
            for _ in range(rounds + 1):
                exp = submit(client, request)
                wait_done(client, exp["id"], 1)
                run = client.get(f"/api/v1/runs/{exp['run_ids'][0]}").json()
                assert run["status"] == "succeeded", run
                tracked.append(ts(run["finished_at"]) - ts(run["started_at"]))
    finally:
        stop(workers)
    return alone, statistics.median(tracked[1:])


def lease_latency(url: str, log_dir: Path, rounds: int = 20) -> list[float]:
    workers = start_workers(url, 1, log_dir)
    latencies = []
    try:
        with httpx.Client(base_url=url, headers=auth_headers(), timeout=60) as client:
            warm = submit(client, {"name": "warm-up", **TINY})
            wait_done(client, warm["id"], 1)
            for i in range(rounds):
                time.sleep(0.3)  # the worker is idle, long-polling
                exp = submit(client, {"name": f"latency {i}", **TINY})
                wait_done(client, exp["id"], 1)
                run = client.get(f"/api/v1/runs/{exp['run_ids'][0]}").json()
                latencies.append(ts(run["started_at"]) - ts(run["created_at"]))
    finally:
        stop(workers)
    return latencies


def throughput(url: str, log_dir: Path, runs: int, n_workers: int) -> float:
    workers = start_workers(url, n_workers, log_dir)
    try:
        with httpx.Client(base_url=url, headers=auth_headers(), timeout=120) as client:
            time.sleep(3)  # let the workers import and start long-polling
            started = time.perf_counter()
            body = {"name": "throughput", **TINY,
                    "training": {**TINY["training"], "seed": list(range(runs))}}
            exp = submit(client, body)
            done = wait_done(client, exp["id"], runs)
            elapsed = time.perf_counter() - started
            assert done["status_counts"].get("succeeded") == runs, done["status_counts"]
    finally:
        stop(workers)
    return runs / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    print(f"optrack queue benchmark — python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs")
    rows = []
    for engine in args.engines.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            url, drop = temp_database(engine, tmp)
            try:
                with Server(url, tmp) as server:
                    alone, tracked = overhead(server.url, tmp)
                    lat = lease_latency(server.url, tmp)
                    rate = throughput(server.url, tmp, args.runs, args.workers)
            finally:
                if drop:
                    drop()
        rows.append((engine, alone, tracked, lat, rate))
        print(f"\n[{engine}]")
        print(f"  20-epoch digits run: optim_core.train alone {alone:.2f} s, through optrack "
              f"{tracked:.2f} s -> {tracked / alone:.2f}x (target <= 1.10x)")
        print(f"  lease latency, submit -> start, idle worker: median "
              f"{statistics.median(lat) * 1000:.0f} ms, max {max(lat) * 1000:.0f} ms "
              f"(target median <= 200 ms)")
        print(f"  throughput: {args.runs} tiny runs, {args.workers} workers: {rate:.1f} runs/s")


if __name__ == "__main__":
    main()
