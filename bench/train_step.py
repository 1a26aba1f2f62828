"""Benchmark one training step of optim_core's MLP against torch, and a whole training run.

    python bench/train_step.py [--repeats N] [--warmup N]

1. Times one training step (forward, backward, Adam update) of the 784-100-100-100-100-10 ReLU
   MLP at batch 128 in float32: median and min ms/step over ``--repeats`` steps after
   ``--warmup`` untimed ones, at 1 and at 2 threads (numpy's BLAS limited with threadpoolctl).
2. If torch happens to be installed (it is not a dependency), times the same network in torch
   on the CPU (nn.Sequential of Linear + ReLU, CrossEntropyLoss, torch.optim.Adam: the default,
   which is the single-tensor loop on the CPU, foreach=True, and fused=True where supported),
   from the same initial weights and on the same batch, at the same thread count
   (torch.set_num_threads), one step of each contender in turn per round, and prints the ratios
   optim_core / torch of the median times.
3. Samples per second of whole ``optim_core.train`` runs on digits (20 epochs, two hidden layers
   of 100, batch 128): examples processed / wall time of the run, evaluation and checkpoints
   included.
4. Peak memory of such a run, in a fresh subprocess (``--memory-child``): max RSS from
   getrusage, and the peak of Python + numpy allocations from tracemalloc.

A benchmark, not a test: it asserts nothing and exits 0.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

# Run from a checkout without installing the package: make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import optim_core  # noqa: E402

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
class Contender:
    label: str
    step: Callable[[], float]  # one training step; returns the loss
    params: Callable[[], list[np.ndarray]]  # W1, b1, W2, … as numpy arrays, (in, out) layout
    times: list[float] = field(default_factory=list)
    first_loss: float = float("nan")

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def min(self) -> float:
        return min(self.times)


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


def run_interleaved(contenders: list[Contender], warmup: int, repeats: int) -> None:
    """Warm every contender up, then time one step of each in turn for ``repeats`` rounds,
    rotating which goes first, so that drift and bursts of load on a shared machine fall on
    all of them alike."""
    for c in contenders:
        c.first_loss = c.step()
        for _ in range(warmup - 1):
            c.step()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        n = len(contenders)
        for r in range(repeats):
            for c in contenders[r % n:] + contenders[:r % n]:
                t0 = time.perf_counter()
                c.step()
                c.times.append(time.perf_counter() - t0)
    finally:
        if gc_was_enabled:
            gc.enable()


def max_abs_diff(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return max(float(np.max(np.abs(p.astype(np.float64) - q))) for p, q in zip(a, b))


def bench_step(torch, threads: int, warmup: int, repeats: int) -> list[tuple[str, float]]:
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
        run_interleaved(contenders, warmup, repeats)
        blas = ", ".join(f"{i['internal_api']} {i['num_threads']}"
                         for i in _threadpool_info() if i["user_api"] == "blas")
        torch_threads = f", torch.get_num_threads() = {torch.get_num_threads()}" if torch else ""

    print(f"threads = {threads}  (numpy BLAS: {blas}{torch_threads})")
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
    return [(label, r) for label, r, _ in ratios]


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
            results = [run_once(RUN_CONFIG) for _ in range(runs)]
        walls = [r[0] for r in results]
        wall, examples, steps, step_time = sorted(results)[len(results) // 2]
        print(f"  threads = {threads}: {examples:,} examples in {steps} steps, wall "
              f"{wall:.3f} s (best {min(walls):.3f} s) = {examples / wall:,.0f} samples/s "
              f"(best {examples / min(walls):,.0f}); loss_and_grads + step "
              f"{step_time / wall:.0%} of the wall time, {step_time / steps * 1e3:.3f} ms/step")
    print()


# -- 4: peak memory, in a fresh process ----------------------------------------------------

def memory_child() -> int:
    """Run the 20-epoch training in this (fresh) process and print a JSON line: max RSS after
    the imports, max RSS after the run, and tracemalloc's peak during a second, identical run
    (traced separately, so that tracing does not inflate the RSS figure)."""
    def maxrss() -> int:  # bytes; Linux reports KiB, macOS bytes
        r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return r if sys.platform == "darwin" else r * 1024

    rss_imports = maxrss()
    started = time.perf_counter()
    for _ in optim_core.train(RUN_CONFIG):
        pass
    wall = time.perf_counter() - started
    rss_run = maxrss()

    tracemalloc.start()
    try:
        gc.collect()
        base = tracemalloc.get_traced_memory()[0]  # the cached dataset is already loaded
        tracemalloc.reset_peak()
        for _ in optim_core.train(RUN_CONFIG):
            pass
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(json.dumps({"rss_imports": rss_imports, "rss_run": rss_run, "wall": wall,
                      "traced_base": base, "traced_peak": peak, "traced_end": current}))
    return 0


def bench_memory() -> None:
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--memory-child"],
                          capture_output=True, text=True, timeout=120)
    print(f"peak memory of a {RUN_CONFIG['epochs']}-epoch digits run (same config), in a fresh "
          f"subprocess that imports numpy, scikit-learn and optim_core but not torch")
    if proc.returncode != 0:
        print(f"  memory child failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
        print()
        return
    m = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"  max RSS (getrusage ru_maxrss): {fmt_bytes(m['rss_run'])} at the end of the run, "
          f"{fmt_bytes(m['rss_imports'])} after the imports, before the run "
          f"(+{fmt_bytes(m['rss_run'] - m['rss_imports'])} for dataset load and training; "
          f"run took {m['wall']:.2f} s)")
    print(f"  tracemalloc (Python + numpy buffers), a second identical run with the dataset "
          f"cached: peak {fmt_bytes(m['traced_peak'])}, {fmt_bytes(m['traced_peak'] - m['traced_base'])} "
          f"above the {fmt_bytes(m['traced_base'])} held before it; "
          f"{fmt_bytes(m['traced_end'] - m['traced_base'])} retained after it")
    print()


def fmt_bytes(n: int) -> str:
    if abs(n) >= 1 << 20:
        return f"{n / (1 << 20):.2f} MiB"
    if abs(n) >= 1 << 10:
        return f"{n / (1 << 10):.1f} KiB"
    return f"{n} B"


# -- main -------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=400,
                    help="timed steps per contender and thread count (400)")
    ap.add_argument("--warmup", type=int, default=20, help="untimed steps first (20)")
    ap.add_argument("--runs", type=int, default=3, help="training runs per thread count (3)")
    ap.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.memory_child:
        return memory_child()
    if args.repeats < 1 or args.warmup < 1 or args.runs < 1:
        ap.error("--repeats, --warmup and --runs must be >= 1")

    try:
        import torch
    except ImportError:
        torch = None

    t_start = time.perf_counter()
    print("optim_core training step benchmark")
    print(f"python {platform.python_version()}, numpy {np.__version__}, "
          f"torch {torch.__version__ if torch is not None else 'not installed'}")
    blas = ", ".join(f"{i['internal_api']} {i.get('version')}" for i in _threadpool_info()
                     if i["user_api"] == "blas")
    print(f"platform {platform.platform()}, machine {platform.machine()}, "
          f"CPUs {os.cpu_count()}, numpy BLAS {blas}")
    print(f"mlp {'-'.join(map(str, SIZES))} relu, float32, batch {BATCH}, softmax "
          f"cross-entropy, adam lr {LR:g}; random inputs and integer labels (seed {SEED})")
    print(f"one step = forward + backward + adam update; {args.warmup} warm-up steps each, then "
          f"median and min of {args.repeats} timed steps, one step of each contender in turn")
    print("per round (rotating the order); torch starts from optim_core's initial weights, so "
          "the 1st-step losses")
    print("should agree; max|dθ| is the largest parameter difference from optim_core at the end")
    print()

    all_ratios = []
    for threads in THREADS:
        all_ratios += [(threads, label, r)
                       for label, r in bench_step(torch, threads, args.warmup, args.repeats)]
    if torch is None:
        print("torch not installed: comparison with torch skipped")
        print()
    else:
        print("summary: optim_core / torch median time per step (target <= 1.00x)")
        for threads, label, r in all_ratios:
            verdict = "ok" if r <= 1.0 else "SLOWER"
            print(f"  threads {threads}  vs {label:<40} {r:5.2f}x  {verdict}")
        print()

    bench_runs(torch, args.runs)
    bench_memory()
    print(f"total time {time.perf_counter() - t_start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
