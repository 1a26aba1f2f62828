"""Benchmark one optimizer step of optim_core on 1,000,000 float32 parameters.

    python -m bench.optimizer_step [--repeats N] [--warmup N]

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
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Callable  # noqa: E402

import numpy as np  # noqa: E402

import optim_core  # noqa: E402
from bench._format import fmt_bytes  # noqa: E402
from bench._stats import Samples  # noqa: E402
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


@dataclass
class Contender(Samples):
    """One optimizer on its own copy of the parameters; ``step()`` applies one update."""

    label: str
    step: Callable[[], object]
    result: Callable[[], dict[str, np.ndarray]]  # the parameters as numpy arrays
    samples: list[float] = field(default_factory=list)  # seconds per step


def optim_core_contender(name: str, params, grads) -> Contender:
    p = fresh_params(params)
    opt = optim_core.create(name, lr=LR)
    return Contender(name, lambda: opt.step(p, grads), lambda: p)


def torch_contender(label: str, make_opt, params, grads) -> Contender:
    tp = [torch.from_numpy(v.copy()).requires_grad_(True) for v in params.values()]
    for t, g in zip(tp, grads.values()):
        t.grad = torch.from_numpy(g.copy())
    opt = make_opt(tp)
    return Contender(label, opt.step,
                     lambda: {k: t.detach().numpy() for k, t in zip(params, tp)})


def run_interleaved(contenders: list[Contender], warmup: int, repeats: int) -> None:
    """Warm every contender up, then time one step of each in turn, ``repeats`` rounds.

    Interleaving spreads slow drift of the machine (other load, frequency changes) over all
    contenders alike, so the ratios stay meaningful on a busy machine; each contender's data
    is also out of the fastest caches when its step starts, as in training."""
    for c in contenders:
        for _ in range(warmup):
            c.step()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            for c in contenders:
                t0 = time.perf_counter()
                c.step()
                c.samples.append(time.perf_counter() - t0)
    finally:
        if gc_was_enabled:
            gc.enable()


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
        tracemalloc.reset_peak()  # Python >= 3.9
        for _ in range(steps):
            opt.step(p, grads)
        current, peak = tracemalloc.get_traced_memory()
        return first, peak - base, current - base
    finally:
        tracemalloc.stop()



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
    print(f"{args.warmup} warm-up steps each, then median and min of {args.repeats} timed "
          f"steps, one step of every optimizer in turn per round")
    print()

    ours = {name: optim_core_contender(name, params, grads) for name in OPTIMIZERS["torch"]}
    theirs: list[tuple[str, str, str, Contender | str]] = []  # (ours, torch label, variant, c)
    if torch is not None:
        variants = {"single-tensor": {"foreach": False}, "foreach": {"foreach": True},
                    "fused": {"fused": True}}
        cases = [
            ("adam", "Adam", lambda tp, kw: torch.optim.Adam(tp, lr=LR, **kw)),
            ("momentum", "SGD momentum",
             lambda tp, kw: torch.optim.SGD(tp, lr=LR, momentum=0.9, **kw)),
        ]
        for ours_name, label, make in cases:
            for variant, kw in variants.items():
                try:
                    c = torch_contender(f"{variant} {label}",
                                        lambda tp, make=make, kw=kw: make(tp, kw), params, grads)
                    c.step()  # an unsupported variant may only fail at its first step
                except (RuntimeError, ValueError, TypeError) as exc:
                    theirs.append((ours_name, label, variant, f"unsupported: {exc}"))
                else:
                    theirs.append((ours_name, label, variant, c))
    for c in ours.values():
        c.step()  # the first warm-up step, as each torch variant has taken above
    timed = list(ours.values()) + [c for *_, c in theirs if isinstance(c, Contender)]
    run_interleaved(timed, args.warmup - 1, args.repeats)

    print("optim_core (convention='torch')")
    print(f"  {'optimizer':<10} {'median ms':>10} {'min ms':>10} {'ns/param':>9}")
    for name, c in ours.items():
        print(f"  {name:<10} {c.median * 1e3:>10.3f} {c.min * 1e3:>10.3f} "
              f"{c.median * 1e9 / N_PARAMS:>9.2f}")
    print()

    if torch is None:
        print("torch not installed: comparison with torch.optim skipped")
    else:
        print("torch.optim on the same data (max|diff|: largest difference from")
        print("optim_core's parameters after the same steps)")
        print(f"  {'optimizer':<14} {'variant':<14} {'median ms':>10} {'min ms':>10} "
              f"{'max|diff|':>9}")
        ratios = []
        for ours_name, label, variant, c in theirs:
            if isinstance(c, str):
                print(f"  {label:<14} {variant:<14} {c}")
                continue
            diff = max_abs_diff(ours[ours_name].result(), c.result())
            print(f"  {label:<14} {variant:<14} {c.median * 1e3:>10.3f} {c.min * 1e3:>10.3f} "
                  f"{diff:>9.1e}")
            ratios.append((ours_name, f"torch {c.label}", ours[ours_name].median / c.median))
        print()
        print("ratio of median times (above 1: optim_core is slower)")
        width = max((len(t) for _, t, _ in ratios), default=0)
        for ours_name, label, r in ratios:
            print(f"  optim_core {ours_name:<8} / {label:<{width}} = {r:5.2f}x")
        print("  (optim_core's step also computes the gradients' global norm for its")
        print("  StepReport, a pass over the gradients that torch.optim's step does not make)")
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
