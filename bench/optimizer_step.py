"""Benchmark one optimizer step of optim_core on 1,000,000 float32 parameters.

    python bench/optimizer_step.py [--repeats N] [--warmup N]

Times ``opt.step(params, grads)`` of every torch-convention optimizer of optim_core on ten
float32 tensors of 100,000 parameters each (1,000,000 in all), one thread, and reports the
median and minimum ms/step. If torch happens to be installed (it is not a dependency), the same
run times torch.optim.Adam and torch.optim.SGD(momentum=0.9) on the same data, single-tensor,
foreach and fused, and prints the ratio optim_core / torch. Finally it measures with tracemalloc
how many bytes optim_core's Adam allocates during a steady-state step, against the 4 MB of
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
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

# Run from a checkout without installing the package: make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import optim_core  # noqa: E402
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


def fresh_params(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in params.items()}


def time_steps(step, warmup: int, repeats: int) -> tuple[float, float]:
    """Median and minimum seconds of ``step()`` over ``repeats`` calls after ``warmup``."""
    for _ in range(warmup):
        step()
    times = []
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
    finally:
        if gc_was_enabled:
            gc.enable()
    return statistics.median(times), min(times)


def bench_optim_core(name: str, params, grads, warmup: int, repeats: int):
    p = fresh_params(params)
    opt = optim_core.create(name, lr=LR)
    med, mn = time_steps(lambda: opt.step(p, grads), warmup, repeats)
    return med, mn, p


def bench_torch(make_opt, params, grads, warmup: int, repeats: int):
    tp = [torch.from_numpy(v.copy()).requires_grad_(True) for v in params.values()]
    for t, g in zip(tp, grads.values()):
        t.grad = torch.from_numpy(g.copy())
    opt = make_opt(tp)
    med, mn = time_steps(opt.step, warmup, repeats)
    return med, mn, {k: t.detach().numpy() for k, t in zip(params, tp)}


def max_abs_diff(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    return max(float(np.max(np.abs(a[k].astype(np.float64) - b[k]))) for k in a)


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
        if hasattr(tracemalloc, "reset_peak"):
            tracemalloc.reset_peak()
            for _ in range(steps):
                opt.step(p, grads)
            current, peak = tracemalloc.get_traced_memory()
            peak_extra = peak - base
        else:  # Python < 3.9: fall back to the peak over one step at a time via snapshots
            peak_extra = 0
            for _ in range(steps):
                opt.step(p, grads)
                peak_extra = max(peak_extra, tracemalloc.get_traced_memory()[0] - base)
            current = tracemalloc.get_traced_memory()[0]
        return first, peak_extra, current - base
    finally:
        tracemalloc.stop()


def fmt_bytes(n: int) -> str:
    if abs(n) >= 1 << 20:
        return f"{n / (1 << 20):.2f} MiB"
    if abs(n) >= 1 << 10:
        return f"{n / (1 << 10):.2f} KiB"
    return f"{n} B"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=50, help="timed steps per optimizer (50)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps first (5)")
    args = ap.parse_args(argv)
    if args.repeats < 1 or args.warmup < 1:
        ap.error("--repeats and --warmup must be >= 1")

    t_start = time.perf_counter()
    params, grads = make_data()
    param_bytes = sum(v.nbytes for v in params.values())

    print("optim_core optimizer step benchmark")
    print(f"python {platform.python_version()}, numpy {np.__version__}, "
          f"torch {torch.__version__ if torch is not None else 'not installed'}")
    print(f"platform {platform.platform()}, machine {platform.machine()}, "
          f"CPUs {os.cpu_count()}, threads 1"
          + (f" (torch.get_num_threads() = {torch.get_num_threads()})" if torch else ""))
    print(f"parameters {N_PARAMS:,} float32 in {len(SHAPES)} tensors "
          f"({fmt_bytes(param_bytes)}), lr {LR:g}, other hyperparameters torch defaults")
    print(f"{args.warmup} warm-up steps, then median and min of {args.repeats} timed steps")
    print()

    print("optim_core (convention='torch')")
    print(f"  {'optimizer':<10} {'median ms':>10} {'min ms':>10} {'ns/param':>9}")
    ours: dict[str, tuple[float, float, dict[str, np.ndarray]]] = {}
    for name in OPTIMIZERS["torch"]:
        med, mn, p = bench_optim_core(name, params, grads, args.warmup, args.repeats)
        ours[name] = (med, mn, p)
        print(f"  {name:<10} {med * 1e3:>10.3f} {mn * 1e3:>10.3f} "
              f"{med * 1e9 / N_PARAMS:>9.2f}")
    print()

    if torch is None:
        print("torch not installed: comparison with torch.optim skipped")
    else:
        kinds = {"single-tensor": {"foreach": False}, "foreach": {"foreach": True},
                 "fused": {"fused": True}}
        cases = [
            ("adam", "Adam", "torch.optim.Adam",
             lambda tp, kw: torch.optim.Adam(tp, lr=LR, **kw)),
            ("momentum", "SGD momentum", "torch.optim.SGD(momentum=0.9)",
             lambda tp, kw: torch.optim.SGD(tp, lr=LR, momentum=0.9, **kw)),
        ]
        ratios = []
        print("torch.optim on the same data (max|diff|: largest difference from optim_core's "
              "parameters after the same steps)")
        print(f"  {'optimizer':<30} {'variant':<14} {'median ms':>10} {'min ms':>10} "
              f"{'max|diff|':>9}")
        for ours_name, short, label, make in cases:
            for kind, kw in kinds.items():
                try:
                    med, mn, tparams = bench_torch(lambda tp: make(tp, kw), params, grads,
                                                   args.warmup, args.repeats)
                except (RuntimeError, ValueError, TypeError) as exc:
                    print(f"  {label:<30} {kind:<14} unsupported: {exc}".rstrip())
                    continue
                diff = max_abs_diff(ours[ours_name][2], tparams)
                print(f"  {label:<30} {kind:<14} {med * 1e3:>10.3f} {mn * 1e3:>10.3f} "
                      f"{diff:>9.1e}")
                ratios.append((ours_name, f"torch {kind} {short}", ours[ours_name][0] / med))
        print()
        print("ratio of median times (above 1: optim_core is slower)")
        width = max((len(t) for _, t, _ in ratios), default=0)
        for ours_name, theirs, r in ratios:
            print(f"  optim_core {ours_name:<8} / {theirs:<{width}} = {r:5.2f}x")
    print()

    first, peak, net = allocation_per_step(params, grads)
    share = peak / param_bytes
    print("allocation of optim_core adam (tracemalloc, numpy buffers included)")
    print(f"  first step (creates exp_avg, exp_avg_sq, 2 scratch buffers): {fmt_bytes(first)}")
    print(f"  steady-state step, peak above baseline over 10 steps: {peak:,} B "
          f"= {share:.4%} of the {fmt_bytes(param_bytes)} of parameters")
    print(f"  retained after those 10 steps: {net:,} B")
    verdict = ("not proportional to the parameter count (< 1% of the parameter bytes)"
               if share < 0.01 else "PROPORTIONAL to the parameter count (>= 1% of the "
                                    "parameter bytes)")
    print(f"  => per-step allocation is {verdict}")
    print()
    print(f"total time {time.perf_counter() - t_start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
