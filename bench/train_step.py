"""Benchmark one training step of optim_core's MLP against torch, and whole training runs.

    python -m bench.train_step [--repeats N] [--warmup N] [--block N] [--runs N] [--budget S]

1. Times one training step (forward, backward, Adam update) of the 784-100-100-100-100-10 ReLU
   MLP at batch 128 in float32 (random inputs, integer labels, seeded): median and min ms/step
   over ``--repeats`` steps after ``--warmup`` untimed ones, at 1 and at 2 threads (numpy's BLAS
   limited with threadpoolctl).
2. If torch happens to be installed (it is not a dependency), times the same network in torch
   on the CPU (nn.Sequential of Linear + ReLU, CrossEntropyLoss, torch.optim.Adam: the default,
   which on the CPU is the single-tensor loop, foreach=True, and fused=True where supported),
   from optim_core's initial weights and on the same batch, at the same thread count
   (torch.set_num_threads) in the same process, and prints the ratios optim_core / torch.
   Contenders are interleaved in rounds, a block of ``--block`` steps each in turn, so that a
   shared machine's load falls on all alike; each block starts once the other library's idle
   worker threads have stopped spinning (OpenBLAS spins ~0.1 s after each call, which at 2
   threads on 2 cores would take a core from torch's next step: a benchmark artefact).
3. Samples per second of whole ``optim_core.train`` runs on digits (20 epochs, two hidden layers
   of 100, batch 128): examples processed / wall time of the run, evaluation and checkpoints
   included.
4. Peak memory of such a run, in a fresh subprocess (``bench/_train_memory.py``): max RSS from
   getrusage (and /proc VmHWM), and the peak of Python + numpy allocations from tracemalloc.

A benchmark, not a test: it asserts nothing and exits 0.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

import optim_core
from bench._stats import Samples
from bench._train_memory import print_memory, ru_maxrss, spawn_memory_child

SEED = 0
LR = 1e-3
BATCH = 128
SIZES = [784, 100, 100, 100, 100, 10]
THREADS = (1, 2)
RUN_CONFIG = {"dataset": "digits", "model": {"kind": "mlp", "hidden": [100, 100]},
              "optimizer": {"name": "adam", "lr": LR}, "epochs": 20, "batch_size": BATCH,
              "seed": SEED}


# -- 1 and 2: one training step, optim_core against torch ----------------------------------------

@dataclass
class Contender(Samples):
    label: str
    step: Callable[[], float]  # one training step; returns the loss
    params: Callable[[], list[np.ndarray]]  # W1, b1, W2, … as numpy arrays, (in, out) layout
    samples: list[float] = field(default_factory=list)  # seconds per step
    first_loss: float = float("nan")


def make_batch() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((BATCH, SIZES[0]), dtype=np.float32)
    t = rng.integers(0, SIZES[-1], size=BATCH, dtype=np.int64)
    return x, t


def ours_contender(x: np.ndarray, t: np.ndarray) -> Contender:
    model = optim_core.models.create("mlp", input_dim=SIZES[0], hidden=SIZES[1:-1],
                                     output_dim=SIZES[-1], activation="relu", init="he",
                                     seed=SEED)
    opt = optim_core.create("adam", lr=LR)

    def step() -> float:
        loss, grads = model.loss_and_grads(x, t)
        opt.step(model.params, grads)
        return loss

    return Contender("optim_core adam", step, lambda: list(model.params.values()))


def initial_params() -> list[np.ndarray]:
    """optim_core's initial weights, for torch to start from the same point."""
    return [p.copy() for p in ours_contender(*make_batch()).params()]


def torch_contender(torch, label: str, opt_kwargs: dict, init: list[np.ndarray],
                    x: np.ndarray, t: np.ndarray) -> Contender:
    nn = torch.nn
    layers: list = []
    for i, (fan_in, fan_out) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(SIZES) - 2:
            layers.append(nn.ReLU())
    net = nn.Sequential(*layers)
    linears = [m for m in net if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for lin, w, b in zip(linears, init[0::2], init[1::2]):
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.T)))
            lin.bias.copy_(torch.from_numpy(b))
    opt = torch.optim.Adam(net.parameters(), lr=LR, **opt_kwargs)
    loss_fn = nn.CrossEntropyLoss()
    tx, tt = torch.from_numpy(x), torch.from_numpy(t)

    def step() -> float:
        opt.zero_grad()  # set_to_none, the default
        loss = loss_fn(net(tx), tt)
        loss.backward()
        opt.step()
        return loss.item()

    def params() -> list[np.ndarray]:
        out = []
        for lin in linears:
            out += [lin.weight.detach().numpy().T, lin.bias.detach().numpy()]
        return out

    return Contender(f"torch adam {label}", step, params)


def settle(quantum: float = 0.01, max_wait: float = 0.5) -> None:
    """Sleep until no thread of this process is burning CPU any more: BLAS and OpenMP worker
    threads spin for a while after each call (OpenBLAS for ~0.1 s), and a spinning pool of one
    library would steal a core from the other library's threads at 2 threads on 2 cores."""
    deadline = time.perf_counter() + max_wait
    while time.perf_counter() < deadline:
        c0 = time.process_time()
        time.sleep(quantum)
        if time.process_time() - c0 < 0.1 * quantum:
            return


def run_interleaved(contenders: list[Contender], warmup: int, repeats: int, block: int,
                    budget: float) -> None:
    """Warm every contender up, then time ``repeats`` steps of each, interleaved: every round
    runs a block of ``block`` consecutive steps of each contender in turn (rotating which goes
    first), so that drift and bursts of load on a shared machine fall on all of them alike.
    Each block starts after ``settle()`` and two untimed steps, so that no contender is timed
    while another library's idle threads are still spinning. Stops at the end of a round once
    ``budget`` seconds have passed, so a heavily loaded machine cannot stretch the run."""
    deadline = time.perf_counter() + budget
    for c in contenders:
        c.first_loss = c.step()
        for _ in range(warmup - 1):
            c.step()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        n, r = len(contenders), 0
        while len(contenders[0].samples) < repeats:
            for c in contenders[r % n:] + contenders[:r % n]:
                settle()
                c.step()
                c.step()
                for _ in range(min(block, repeats - len(c.samples))):
                    t0 = time.perf_counter()
                    c.step()
                    c.samples.append(time.perf_counter() - t0)
            r += 1
            if time.perf_counter() > deadline:
                break
    finally:
        if gc_was_enabled:
            gc.enable()


def max_abs_diff(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return max(float(np.max(np.abs(p.astype(np.float64) - q))) for p, q in zip(a, b))


def bench_step(torch, threads: int, warmup: int, repeats: int, block: int,
               budget: float) -> list[tuple[str, float, float]]:
    """Time the step at ``threads`` threads; print a table and return (label, ratio) pairs."""
    from threadpoolctl import threadpool_limits

    x, t = make_batch()
    with threadpool_limits(limits=threads):
        if torch is not None:
            torch.set_num_threads(threads)
        ours = ours_contender(x, t)
        contenders = [ours]
        unsupported: list[str] = []
        if torch is not None:
            init = initial_params()
            variants = {"default (single-tensor on CPU)": {}, "foreach=True": {"foreach": True},
                        "fused=True": {"fused": True}}
            for label, kw in variants.items():
                try:
                    c = torch_contender(torch, label, kw, init, x, t)
                    c.first_loss = c.step()  # an unsupported variant may fail only here
                except (RuntimeError, ValueError, TypeError) as exc:
                    unsupported.append(f"torch adam {label}: unsupported ({exc})")
                    continue
                contenders.append(torch_contender(torch, label, kw, init, x, t))
        run_interleaved(contenders, warmup, repeats, block, budget)
        blas = ", ".join(f"{i['internal_api']} {i['num_threads']}"
                         for i in _threadpool_info() if i["user_api"] == "blas")
        torch_threads = f", torch.get_num_threads() = {torch.get_num_threads()}" if torch else ""

    print(f"threads = {threads}  (numpy BLAS: {blas}{torch_threads})")
    if len(ours.samples) < repeats:
        print(f"  time budget of {budget:g} s reached: {len(ours.samples)} timed steps each "
              f"instead of {repeats} (the machine is loaded)")
    print(f"  {'contender':<42} {'median ms':>9} {'min ms':>8} {'1st loss':>9} {'max|dθ|':>8}")
    ref = ours.params()
    for c in contenders:
        diff = "" if c is ours else f"{max_abs_diff(ref, c.params()):8.1e}"
        print(f"  {c.label:<42} {c.median * 1e3:>9.3f} {c.min * 1e3:>8.3f} "
              f"{c.first_loss:>9.5f} {diff:>8}")
    for line in unsupported:
        print(f"  {line}")
    ratios = [(c.label, ours.median / c.median, ours.min / c.min) for c in contenders[1:]]
    for label, r_med, r_min in ratios:
        print(f"  ratio optim_core / {label:<40} median {r_med:5.2f}x   min {r_min:5.2f}x")
    print()
    return ratios


def _threadpool_info() -> list[dict]:
    from threadpoolctl import threadpool_info
    return threadpool_info()


# -- 3: samples per second of whole runs -----------------------------------------------------

def run_once(config: dict) -> tuple[float, int, int, float]:
    """Run ``config`` to the end; (wall seconds, examples processed, steps, seconds inside
    loss_and_grads + optimizer step as the run's own step_time metrics record them)."""
    started = time.perf_counter()
    step_time = 0.0
    finished = None
    for event in optim_core.train(config):
        if isinstance(event, optim_core.Metrics):
            step_time += event.values.get("step_time", 0.0)
        elif isinstance(event, optim_core.Finished):
            finished = event
    wall = time.perf_counter() - started
    steps = finished.summary["steps"]
    n_train = len(optim_core.training.loop.load_dataset(config["dataset"]).x_train)
    batches_per_epoch = -(-n_train // config["batch_size"])
    full, rest = divmod(steps, batches_per_epoch)
    examples = full * n_train + rest * config["batch_size"]  # last batch of an epoch is short
    return wall, examples, steps, step_time


def bench_runs(torch, runs: int) -> None:
    from threadpoolctl import threadpool_limits

    run_once({**RUN_CONFIG, "epochs": 1})  # loads and caches the dataset, warms everything up
    print(f"optim_core.train on digits, {RUN_CONFIG['epochs']} epochs, mlp hidden "
          f"{RUN_CONFIG['model']['hidden']}, adam, batch {BATCH}; median (best) of {runs} runs, "
          f"evaluation and a checkpoint every epoch included")
    for threads in THREADS:
        with threadpool_limits(limits=threads):
            if torch is not None:
                torch.set_num_threads(threads)
            results = []
            for _ in range(runs):
                settle()
                results.append(run_once(RUN_CONFIG))
        walls = [r[0] for r in results]
        wall, examples, steps, step_time = sorted(results)[len(results) // 2]
        print(f"  threads {threads}: {examples:,} examples in {steps} steps, wall {wall:.3f} s "
              f"(best {min(walls):.3f} s) = {examples / wall:,.0f} samples/s "
              f"(best {examples / min(walls):,.0f})")
        print(f"             loss_and_grads + optimizer step: {step_time / steps * 1e3:.3f} "
              f"ms/step, {step_time / wall:.0%} of the wall time (the rest: batching, evaluation, "
              f"checkpoints)")
    print()


# -- main -------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=400,
                    help="timed steps per contender and thread count (400)")
    ap.add_argument("--warmup", type=int, default=20, help="untimed steps first (20)")
    ap.add_argument("--block", type=int, default=20,
                    help="consecutive steps of one contender per round (20)")
    ap.add_argument("--runs", type=int, default=3, help="training runs per thread count (3)")
    ap.add_argument("--budget", type=float, default=25.0,
                    help="seconds at most for the step timing per thread count (25)")
    args = ap.parse_args(argv)
    if min(args.repeats, args.warmup, args.block, args.runs) < 1 or args.budget <= 0:
        ap.error("--repeats, --warmup, --block and --runs must be >= 1, --budget > 0")

    t_start = time.perf_counter()
    parent_rss = ru_maxrss()
    memory = spawn_memory_child(RUN_CONFIG)  # before torch is imported: see spawn_memory_child
    try:
        import torch
    except ImportError:
        torch = None

    print("optim_core training step benchmark")
    print(f"python {platform.python_version()}, numpy {np.__version__}, "
          f"torch {torch.__version__ if torch is not None else 'not installed'}")
    blas = ", ".join(f"{i['internal_api']} {i.get('version')} ({Path(i['filepath']).name})"
                     for i in _threadpool_info() if i["user_api"] == "blas")
    print(f"platform {platform.platform()}, machine {platform.machine()}, CPUs {os.cpu_count()}")
    print(f"BLAS libraries loaded: {blas}")
    try:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"load average at start: {load} (a shared machine: other load inflates the times)")
    except OSError:
        pass
    print()
    print(f"one training step: mlp {'-'.join(map(str, SIZES))} relu, float32, batch {BATCH}, "
          f"softmax cross-entropy, forward + backward + adam (lr {LR:g}) update;")
    print(f"random inputs and integer labels (seed {SEED}); torch starts from optim_core's "
          f"initial weights, so the 1st-step losses must agree,")
    print(f"and max|dθ| is the largest parameter difference from optim_core at the end. "
          f"{args.warmup} warm-up steps each, then")
    print(f"{args.repeats} timed steps each, interleaved in rounds: each contender in turn runs "
          f"a block of {args.block} steps, after the")
    print("process's idle BLAS/OpenMP threads have stopped spinning and 2 untimed steps")
    print()

    all_ratios = []
    for threads in THREADS:
        all_ratios += [(threads, *r) for r in bench_step(torch, threads, args.warmup,
                                                          args.repeats, args.block, args.budget)]
    if torch is None:
        print("torch not installed: comparison with torch skipped")
        print()
    else:
        print("summary: optim_core / torch time per step (target <= 1.00x); the ratio of the")
        print("minima is the less noise-sensitive one on a loaded machine")
        for threads, label, r_med, r_min in all_ratios:
            verdict = "ok" if r_med <= 1.0 else "SLOWER than torch"
            print(f"  threads {threads}  vs {label:<40} median {r_med:5.2f}x  min {r_min:5.2f}x"
                  f"  {verdict}")
        print()

    bench_runs(torch, args.runs)
    print_memory(memory, parent_rss, RUN_CONFIG)
    print(f"total time {time.perf_counter() - t_start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
