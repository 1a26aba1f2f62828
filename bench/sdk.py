"""Benchmark the Python SDK against a real server (SQLite, a process of its own):

    python -m bench.sdk [--steps N] [--rounds R] [--calls N] [--mlflow-steps N]

1. ``run.log`` cost per call, with 1 and with 4 keys: the median over blocks of ``--calls``
   calls of a run that is really sending (its background thread posts batches meanwhile).
2. A NumPy training loop — one Adam step of optim_core's 784-100-100-100-100-10 MLP at batch
   128 per iteration (bench.train_step's network), one BLAS thread — logging 4 keys every step
   through the SDK, against the same loop logging nothing; interleaved rounds, the ratio of medians (target
   ≤ 1.02×), and what ``finish`` (draining the buffer) adds.
3. The same loop logging through the ``mlflow`` client (``mlflow.log_metrics``: one request per
   step) to optrack's MLflow-compatible API, when the ``mlflow`` package is installed; and to an
   MLflow server of its own when ``MLFLOW_BIN`` names its ``mlflow`` executable.

A benchmark, not a test: it prints figures and exits 0.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import optrack

from tests.harness import Server, temp_database

from ._sdk_mlflow import mlflow_rows
from .train_step import make_batch, ours_contender

KEYS1 = ("train_loss",)
KEYS4 = ("train_loss", "lr", "grad_norm", "step_time")


def log_cost(srv: Server, calls: int, keys: tuple[str, ...], blocks: int = 7) -> float:
    """Median µs per ``run.log`` call of ``keys``."""
    samples = []
    with optrack.init(server=srv.url, token=srv.token, name=f"log cost {len(keys)}") as run:
        step = 0
        for _ in range(blocks):
            started = time.perf_counter()
            for _ in range(calls):
                run.log({k: 0.5 for k in keys}, step=step)
                step += 1
            samples.append((time.perf_counter() - started) / calls * 1e6)
    return statistics.median(samples)


def loop_seconds(steps: int, run: optrack.Run | None) -> float:
    """Wall time of ``steps`` training steps, each logging 4 keys to ``run`` (if given)."""
    x, t = make_batch()
    step = ours_contender(x, t).step
    started = time.perf_counter()
    for i in range(steps):
        tick = time.perf_counter()
        loss = step()
        if run is not None:
            run.log({"train_loss": loss, "lr": 1e-3, "grad_norm": 1.0,
                     "step_time": time.perf_counter() - tick}, step=i)
    return time.perf_counter() - started


def training_loop(srv: Server, steps: int, rounds: int) -> dict[str, list[float]]:
    """Interleaved rounds of the loop without logging and with the SDK, at one BLAS thread
    (optrack's training default: on 2 shared cores a second one collapses)."""
    from threadpoolctl import threadpool_limits

    out = {"none": [], "sdk": [], "finish": []}
    with threadpool_limits(limits=1):
        for r in range(rounds):
            _round(srv, steps, r, out)
    return out


def _round(srv: Server, steps: int, r: int, out: dict[str, list[float]]) -> None:
    """One round: the loop alone and the loop logging, in alternating order."""
    for what in (("none", "sdk") if r % 2 == 0 else ("sdk", "none")):
        if what == "none":
            out["none"].append(loop_seconds(steps, None))
            continue
        run = optrack.init(server=srv.url, token=srv.token, name=f"loop round {r}")
        out["sdk"].append(loop_seconds(steps, run))
        started = time.perf_counter()
        run.finish()
        out["finish"].append(time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--mlflow-steps", type=int, default=500)
    args = parser.parse_args(argv)
    print(f"optrack SDK benchmark — python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print("command: python -m bench.sdk " + " ".join(argv or sys.argv[1:]))
    with tempfile.TemporaryDirectory() as tmp, temp_database("sqlite") as url, \
            Server(url, Path(tmp)) as srv:
        print("\n1. run.log per call (a real run, its sender posting meanwhile)")
        for keys in (KEYS1, KEYS4):
            print(f"  {len(keys)} key(s): {log_cost(srv, args.calls, keys):.2f} µs median "
                  f"(target ≤ 5 µs)")
        loops = training_loop(srv, args.steps, args.rounds)
        none, sdk = statistics.median(loops["none"]), statistics.median(loops["sdk"])
        print(f"\n2. training loop, {args.steps} Adam steps of the 784-100×4-10 MLP (batch 128), "
              f"4 keys logged per step, {args.rounds} interleaved rounds")
        print(f"  no logging: {none:.3f} s median ({none / args.steps * 1e3:.3f} ms/step)")
        print(f"  optrack SDK: {sdk:.3f} s median; ratio {sdk / none:.3f}× (target ≤ 1.02×); "
              f"finish (drain) {statistics.median(loops['finish']) * 1e3:.0f} ms median")
        for line in mlflow_rows(srv, args.mlflow_steps, tmp, none / args.steps, loop_seconds):
            print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
