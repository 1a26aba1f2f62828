"""Benchmark one optimizer step of optim_core on 1,000,000 float32 parameters.

    python -m bench.optimizer_step [--repeats N] [--warmup N]

Times ``opt.step(params, grads)`` of every torch-convention optimizer of optim_core on ten
float32 tensors of 100,000 parameters each (1,000,000 in all), one thread, on both of its paths:
the fused kernels of optim_core.kernels (numba, when installed) and the readable NumPy rules.
If torch happens to be installed (it is not a dependency), the same rules in torch.optim run on
the same data, single-tensor, foreach and fused where torch has them, and the ratio fused
kernels / torch's fastest path is printed per optimizer. All contenders are timed interleaved;
the table gives the median and the interquartile range. Finally it measures with tracemalloc how
many bytes optim_core's Adam allocates during a steady-state step, against the 4 MB of
parameters. A benchmark, not a test: it asserts nothing and exits 0.
"""

from __future__ import annotations

import os

# One thread everywhere, before numpy (and torch) load their thread pools.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import gc  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402

import optim_core  # noqa: E402
from bench._format import fmt_bytes  # noqa: E402
from bench._optim_contenders import (Contender, fresh_params, max_abs_diff,  # noqa: E402
                                     optim_core_contender, run_interleaved, torch_contenders)
from optim_core import kernels  # noqa: E402
from optim_core.optimizers import OPTIMIZERS  # noqa: E402

try:
    import torch
except ImportError:
    torch = None
else:
    torch.set_num_threads(1)

SEED = 0
LR = 1e-3
# Ten tensors of 100,000 float32 each, in the shapes a small network might have.
SHAPES = [(100, 1000), (1000, 100), (100_000,), (250, 400), (400, 250),
          (50, 2000), (2000, 50), (200, 500), (500, 200), (10, 100, 100)]
N_PARAMS = sum(int(np.prod(s)) for s in SHAPES)
assert N_PARAMS == 1_000_000 and len(SHAPES) == 10


def make_data() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    rng = np.random.default_rng(SEED)
    params = {f"w{i}": rng.standard_normal(s, dtype=np.float32) for i, s in enumerate(SHAPES)}
    grads = {f"w{i}": rng.standard_normal(s, dtype=np.float32) for i, s in enumerate(SHAPES)}
    return params, grads


def allocation_per_step(params, grads, steps: int = 10) -> tuple[int, int, int]:
    """(bytes allocated by Adam's first step, peak bytes above the baseline during ``steps``
    steady-state steps, net bytes retained after them), as tracemalloc sees them (numpy reports
    its array buffers to tracemalloc)."""
    p = fresh_params(params)
    opt = optim_core.create("adam", lr=LR)
    tracemalloc.start()
    try:
        # Positive control: the first step creates exp_avg, exp_avg_sq and two scratch buffers.
        before = tracemalloc.get_traced_memory()[0]
        opt.step(p, grads)
        first = tracemalloc.get_traced_memory()[0] - before
        for _ in range(3):  # warm-up under tracing
            opt.step(p, grads)
        gc.collect()
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()  # Python >= 3.9
        for _ in range(steps):
            opt.step(p, grads)
        current, peak = tracemalloc.get_traced_memory()
        return first, peak - base, current - base
    finally:
        tracemalloc.stop()



def contenders(params, grads) -> dict[str, list[Contender | str]]:
    """Per optimizer: optim_core fast (if numba is there), optim_core numpy, torch's variants;
    every contender has taken one step (torch's variants take theirs to prove they run)."""
    paths = ["numba", "numpy"] if kernels.select() == "numba" else ["numpy"]
    rows: dict[str, list[Contender | str]] = {}
    for name in OPTIMIZERS["torch"]:
        ours: list[Contender | str] = [optim_core_contender(name, b, LR, params, grads)
                                       for b in paths]
        for c in ours:
            c.step()
        rows[name] = ours + (torch_contenders(torch, name, LR, params, grads) if torch else [])
    return rows


def print_table(rows: dict[str, list[Contender | str]]) -> None:
    print("max|diff|: largest difference from optim_core numpy's parameters after the same steps")
    print(f"  {'optimizer':<10} {'path':<20} {'median ms':>9} {'IQR ms':>13} {'min ms':>7} "
          f"{'max|diff|':>9}")
    for name, row in rows.items():
        reference = next(c for c in row if isinstance(c, Contender) and "numpy" in c.label)
        for c in row:
            if isinstance(c, str):
                print(f"  {name:<10} {c}")
                continue
            iqr = f"{c.quantile(0.25) * 1e3:.3f}-{c.quantile(0.75) * 1e3:.3f}"
            diff = "" if c is reference else f"{max_abs_diff(reference.result(), c.result()):.1e}"
            print(f"  {name:<10} {c.label:<20} {c.median * 1e3:>9.3f} {iqr:>13} "
                  f"{c.min * 1e3:>7.3f} {diff:>9}")
    if torch is not None:
        print("  (torch's foreach SGD with nesterov adds the momentum into .grad in place and")
        print("  this benchmark keeps the gradients, so that variant's parameters drift; its")
        print("  timing holds)")
    print()


def print_ratios(rows: dict[str, list[Contender | str]]) -> None:
    print("ratio of median times, optim_core / torch (above 1: optim_core is slower), and of")
    print("minimum times (less moved by other load); the issue's target: fast / torch's fastest")
    print("path <= 1.5x")
    print(f"  {'optimizer':<10} {'fast/single':>11} {'fast/foreach':>12} {'fast/fused':>10} "
          f"{'fast/fastest':>20} {'by min':>6} {'numpy/fastest':>13}")
    for name, row in rows.items():
        ours = {c.label: c for c in row if isinstance(c, Contender) and "optim_core" in c.label}
        theirs = {c.label.split()[1]: c for c in row
                  if isinstance(c, Contender) and c.label.startswith("torch")}
        fast, numpy_ = ours.get("optim_core fast"), ours["optim_core numpy"]
        best = min(theirs, key=lambda v: theirs[v].median)

        def ratio(c: Contender | None, variant: str, by: str = "median") -> str:
            return "-" if c is None or variant not in theirs else \
                f"{getattr(c, by) / getattr(theirs[variant], by):.2f}x"

        print(f"  {name:<10} {ratio(fast, 'single-tensor'):>11} {ratio(fast, 'foreach'):>12} "
              f"{ratio(fast, 'fused'):>10} {ratio(fast, best) + f' ({best})':>20} "
              f"{ratio(fast, best, 'min'):>6} {ratio(numpy_, best):>13}")
    print("  (optim_core's step also computes the gradients' global norm for its StepReport,")
    print("  a pass over the gradients that torch.optim's step does not make)")
    print()


def print_allocation(params, grads, param_bytes: int) -> None:
    first, peak, net = allocation_per_step(params, grads)
    share = peak / param_bytes
    print(f"allocation of optim_core adam, {kernels.backend()} path "
          f"(tracemalloc, numpy buffers included)")
    print(f"  first step (creates exp_avg, exp_avg_sq, 2 scratch buffers): {fmt_bytes(first)}")
    print(f"  steady-state step, peak above baseline over 10 steps: {peak:,} B "
          f"= {share:.4%} of the {fmt_bytes(param_bytes)} of parameters")
    print(f"  retained after those 10 steps: {net:,} B")
    verdict = ("not proportional to the parameter count (< 1% of the parameter bytes)"
               if share < 0.01 else "PROPORTIONAL to the parameter count (>= 1% of the "
                                    "parameter bytes)")
    print(f"  => per-step allocation is {verdict}")
    print()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=50, help="timed steps per contender (50)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps first (5)")
    args = ap.parse_args(argv)
    if args.repeats < 1 or args.warmup < 1:
        ap.error("--repeats and --warmup must be >= 1")

    t_start = time.perf_counter()
    params, grads = make_data()
    param_bytes = sum(v.nbytes for v in params.values())
    rows = contenders(params, grads)  # before the header: the kernels load here

    print("optim_core optimizer step benchmark")
    numba_version = sys.modules["numba"].__version__ if "numba" in sys.modules else "not installed"
    print(f"python {platform.python_version()}, numpy {np.__version__}, numba {numba_version}, "
          f"torch {torch.__version__ if torch is not None else 'not installed'}")
    print(f"platform {platform.platform()}, machine {platform.machine()}, "
          f"CPUs {os.cpu_count()}, threads 1"
          + (f" (torch.get_num_threads() = {torch.get_num_threads()})" if torch else "")
          + f", load average {os.getloadavg()[0]:.1f}")
    print(f"parameters {N_PARAMS:,} float32 in {len(SHAPES)} tensors "
          f"({fmt_bytes(param_bytes)}), lr {LR:g}, other hyperparameters torch defaults "
          f"(momentum and nesterov: momentum 0.9)")
    print(f"{args.warmup} warm-up steps each, then median and interquartile range of "
          f"{args.repeats} timed steps, one step of every contender in turn per round")
    print()

    timed = [c for row in rows.values() for c in row if isinstance(c, Contender)]
    run_interleaved(timed, args.warmup - 1, args.repeats)
    print_table(rows)
    if torch is None:
        print("torch not installed: comparison with torch.optim skipped")
    else:
        print_ratios(rows)
    kernels.select()
    print_allocation(params, grads, param_bytes)
    print(f"total time {time.perf_counter() - t_start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
