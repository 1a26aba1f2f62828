"""Queue and worker benchmark: tracking overhead, lease latency, throughput. (Not named
queue.py: a script of that name beside the others would shadow the standard library's queue.)

    python -m bench.queue_bench [--engines sqlite,postgresql] [--runs 1000] [--workers 4]

1. Tracking overhead: a 20-epoch digits run (MLP 100-100, batch 128, checkpoints every epoch;
   about 0.1 s of training) and a ~4-second one (``--long-epochs``, default 500) through a real
   server and worker, against ``optim_core.train`` alone with the same config in this process;
   21 pairs (5 for the long run), each side in turn, after one warm-up pair; medians and
   ranges. The run's time is the server's started_at → finished_at; the difference of the
   short run is the fixed cost of a run through the queue.
2. Lease latency: an idle worker long-polls; we submit a one-run experiment and read
   created_at → started_at from the server, 20 times; median and max.
3. Throughput: ``--runs`` tiny runs (a 2-D point model, 5 steps) through ``--workers`` workers;
   runs/s from submission until every run ended.
A benchmark, not a test: it prints figures and exits 0.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx

import optim_core
from optim_core.training import flatten
from tests.harness import Server, Workers, temp_database

TRAIN = {"dataset": "digits", "model": {"kind": "mlp", "hidden": [100, 100]},
         "optimizer": {"name": "adam", "lr": 0.001}, "epochs": 20, "batch_size": 128, "seed": 0}
TINY = {"model": {"kind": "point"}, "optimizer": {"name": "adam", "lr": 0.1},
        "training": {"steps": 5}}


def wait_done(client: httpx.Client, experiment: dict, total: int, timeout: float = 600) -> dict:
    """The experiment's counts per status once ``total`` runs ended. Polled through the
    experiments list (one GROUP BY), not the experiment's page, which reads every run: polling
    that every 50 ms took half the server's time from the runs being measured. The interval
    grows from 50 ms to 250 ms: the figures come from the server's timestamps, and on two
    cores every poll is work the server does beside the run's (the throughput's end is seen
    at most 250 ms late, which only lowers it)."""
    deadline = time.monotonic() + timeout
    interval = 0.05
    while time.monotonic() < deadline:
        listed = client.get("/api/v1/experiments", params={"q": experiment["name"],
                                                           "limit": 100}).json()
        counts = next(e for e in listed["experiments"]
                      if e["id"] == experiment["id"])["status_counts"]
        if sum(v for k, v in counts.items() if k not in ("queued", "running")) >= total:
            return counts
        time.sleep(interval)
        interval = min(interval * 1.5, 0.25)
    raise TimeoutError(f"experiment {experiment['id']} not done: {counts}")


def ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def submit(client: httpx.Client, body: dict) -> dict:
    response = client.post("/api/v1/experiments", json=body)
    response.raise_for_status()
    return response.json()


def overhead(server: Server, workers: Workers, rounds: int = 21,
             epochs: int = TRAIN["epochs"]) -> tuple[list[float], list[float]]:
    """The same run ``rounds`` times through optrack and alone, interleaved (one of each in
    turn, so a change in the machine's load falls on both). Alone trains on the config the
    worker trained on (the run's stored config, every default filled in, flattened as the
    lease sends it), not on the request: the two differ (``log_every``, the dataset's seed).
    The first run of each side (dataset load, imports, caches) is not counted: a worker loads
    a dataset once and reuses it for every run, as the in-process side does."""
    workers(server, 1)
    request = {"name": f"overhead {epochs}", "dataset": TRAIN["dataset"],
               "model": TRAIN["model"], "optimizer": TRAIN["optimizer"],
               "training": {"epochs": epochs, "batch_size": TRAIN["batch_size"],
                            "seed": TRAIN["seed"]}}
    tracked, alone = [], []
    try:
        with httpx.Client(base_url=server.url, headers=server.headers, timeout=60) as client:
            for _ in range(rounds + 1):
                exp = submit(client, request)
                wait_done(client, exp, 1)
                run = client.get(f"/api/v1/runs/{exp['run_ids'][0]}").json()
                assert run["status"] == "succeeded", run
                tracked.append(ts(run["finished_at"]) - ts(run["started_at"]))
                started = time.perf_counter()  # the worker is idle now, long-polling
                for _ in optim_core.train(flatten(run["config"])):
                    pass
                alone.append(time.perf_counter() - started)
    finally:
        workers.stop()
    return alone[1:], tracked[1:]


def spread(values: list[float], scale: float = 1.0, unit: str = "s") -> str:
    """The median and the range, e.g. ``0.412 s (0.398–0.450)``."""
    digits = 3 if unit == "s" else 0
    return (f"{statistics.median(values) * scale:.{digits}f} {unit} "
            f"({min(values) * scale:.{digits}f}–{max(values) * scale:.{digits}f})")


def lease_latency(server: Server, workers: Workers, rounds: int = 20) -> list[float]:
    workers(server, 1)
    latencies = []
    try:
        with httpx.Client(base_url=server.url, headers=server.headers, timeout=60) as client:
            warm = submit(client, {"name": "warm-up", **TINY})
            wait_done(client, warm, 1)
            for i in range(rounds):
                time.sleep(0.3)  # the worker is idle, long-polling
                exp = submit(client, {"name": f"latency {i}", **TINY})
                wait_done(client, exp, 1)
                run = client.get(f"/api/v1/runs/{exp['run_ids'][0]}").json()
                latencies.append(ts(run["started_at"]) - ts(run["created_at"]))
    finally:
        workers.stop()
    return latencies


def throughput(server: Server, workers: Workers, runs: int, n_workers: int) -> float:
    workers(server, n_workers)
    try:
        with httpx.Client(base_url=server.url, headers=server.headers, timeout=120) as client:
            time.sleep(3)  # let the workers import and start long-polling
            started = time.perf_counter()
            body = {"name": "throughput", **TINY,
                    "training": {**TINY["training"], "seed": list(range(runs))}}
            exp = submit(client, body)
            done = wait_done(client, exp, runs)
            elapsed = time.perf_counter() - started
            assert done.get("succeeded") == runs, done
    finally:
        workers.stop()
    return runs / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--long-epochs", type=int, default=500,
                        help="epochs of the ~4-second overhead run (0: skip it)")
    args = parser.parse_args()
    print(f"optrack queue benchmark — python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs")
    for engine in args.engines.split(","):
        with tempfile.TemporaryDirectory() as tmp, temp_database(engine, tmp) as url, \
                Server(url, tmp, quiet=True) as server:
            # the workers keep this process's BLAS threads: the in-process training they are
            # compared with has them
            workers = Workers(Path(tmp), threads=None)
            short = overhead(server, workers)
            long = (overhead(server, workers, rounds=5, epochs=args.long_epochs)
                    if args.long_epochs else None)
            lat = lease_latency(server, workers)
            rate = throughput(server, workers, args.runs, args.workers)
        print(f"\n[{engine}]")
        alone, tracked = (statistics.median(side) for side in short)
        ratios = [t / a for a, t in zip(*short)]
        print(f"  20-epoch digits run, median (range) of {len(ratios)} interleaved pairs: "
              f"alone {spread(short[0])}, through optrack {spread(short[1])} -> "
              f"{tracked / alone:.2f}x (pairs {min(ratios):.2f}–{max(ratios):.2f}x); fixed "
              f"cost of a run {(tracked - alone) * 1000:.0f} ms (target <= 20 ms)")
        if long is not None:
            ratios = [t / a for a, t in zip(*long)]
            ratio = statistics.median(long[1]) / statistics.median(long[0])
            print(f"  {args.long_epochs}-epoch digits run: alone {spread(long[0])}, through "
                  f"optrack {spread(long[1])} -> {ratio:.3f}x (pairs {min(ratios):.3f}–"
                  f"{max(ratios):.3f}x; target <= 1.03x)")
        print(f"  lease latency, submit -> start, idle worker: median "
              f"{statistics.median(lat) * 1000:.0f} ms, max {max(lat) * 1000:.0f} ms "
              f"(target median <= 200 ms)")
        print(f"  throughput: {args.runs} tiny runs, {args.workers} workers: {rate:.1f} runs/s")


if __name__ == "__main__":
    main()
