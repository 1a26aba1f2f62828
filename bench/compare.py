"""Fair comparison benchmark: the chapter-6 optimizers on digits, tuned and untuned.

    python -m bench.compare [--quick] [--engine sqlite|postgresql] [--workers 2]
                            [--parallelism 2]

The issue's setting: digits, MLP 100-100, 20 epochs, batch size 128, base training seed 0;
SGD, Momentum, AdaGrad and Adam with the book's update rules (``"convention": "book"`` for
both tables, so that only the learning rate differs between them).

1. Tuned: one ``compare`` experiment — per optimizer a TPE search (seed 0) of 20 trials over
   optimizer.lr log-uniform [1e-5, 1] with ASHA pruning (the service's defaults: min_resource
   1, reduction_factor 3), then its best config re-run unpruned on 5 fresh seeds (1..5). The
   table is the API's comparison: rank, tuned lr, final val_loss mean ± std, the t-based 95 %
   interval, n; the pairs with Welch's p-value, Holm's correction and significance at alpha
   0.05; the statistics are recomputed from the stored val_loss as a cross-check.
2. Untuned: a grid of the four optimizers at the book's default learning rates (SGD, Momentum,
   AdaGrad 0.01; Adam 0.001 — service/cli/demo.py CHAPTER_6) × the same seeds 1..5, same
   model, data and epochs; the same statistics (service.search.statistics) from the runs' last
   stored val_loss, scored as the service scores a final run (diverged: inf, not in n).
Compute for each: runs, optimizer steps trained (the sum over runs of their stored train_loss
points: logged every step, so a pruned run counts the steps it reached) and wall time from
submission until no run is queued or running. Then whether the two rankings differ.
``--quick``: 5 epochs, budget 6, 3 final seeds. A real server on a temporary database and
worker processes (tests/harness); BLAS threads 1 per run (training's default).
A benchmark, not a test: it prints figures and exits 0.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

from ._compare_runs import (BOOK_LR, CONVENTION, PRUNER, Result, Row, Setting, run_tuned,
                            run_untuned)
from ._search_runs import running_service, say, table


def fmt(v: float | None, spec: str = ".4f") -> str:
    return "-" if v is None else format(v, spec)


def print_result(result: Result, title: str) -> None:
    say(f"\n{title}")
    tuned = result.label == "tuned"
    rows = sorted(result.rows, key=lambda r: (r.rank is None, r.rank or 0))
    headers = ["rank", "optimizer", "tuned lr" if tuned else "lr (book)", "final val_loss",
               "95 % CI", "n", "diverged", "failed"]
    if tuned:
        headers += ["search trials", "pruned", "search steps"]
    body = []
    for r in rows:
        line = [fmt(r.rank, "d"), r.optimizer, fmt(r.lr, ".3g"),
                "-" if r.mean is None else f"{r.mean:.4f} ± {r.std:.4f}",
                "-" if r.ci95 is None else f"[{r.ci95[0]:.4f}, {r.ci95[1]:.4f}]",
                str(r.n), str(r.diverged), str(r.failed)]
        if tuned:
            line += [str(r.trials), str(r.pruned), f"{r.search_steps:,}"]
        body.append(line)
    table(headers, body)
    say("  final val_loss per run, in seed order: " + "; ".join(
        f"{r.optimizer} " + " ".join(fmt(v) for v in r.values) for r in rows))
    print_pairs(result)
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(result.statuses.items()))
    say(f"  compute: {result.runs} runs ({statuses}), "
        f"{result.steps:,} optimizer steps ({result.steps - result.final_steps:,} searching, "
        f"{result.final_steps:,} in final runs), wall {result.wall:.1f} s")
    for note in result.notes:
        say(f"  note: {note}")


def print_pairs(result: Result) -> None:
    if not result.pairs:
        say("  pairs: none tested (some optimizer has not settled)")
        return
    means = {r.optimizer: r.mean for r in result.rows}
    body = [[f"{p['a']} vs {p['b']}",
             "-" if means[p["a"]] is None or means[p["b"]] is None
             else f"{means[p['a']] - means[p['b']]:+.4f}",
             fmt(p["p_value"], ".3g"), fmt(p["p_holm"], ".3g"),
             "yes" if p["significant"] else "no"] for p in result.pairs]
    say("  pairs (Welch's t-test, Holm-corrected over the pairs, alpha 0.05):")
    table(["pair", "mean a − b", "p", "p Holm", "significant"], body, indent="    ")


def ordering(rows: list[Row]) -> str:
    """'adam < momentum = sgd < …' by rank (lower val_loss first)."""
    ranked = sorted(rows, key=lambda r: (r.rank is None, r.rank or 0, r.optimizer))
    out = ranked[0].optimizer
    for prev, row in zip(ranked, ranked[1:]):
        out += (" = " if row.rank == prev.rank else " < ") + row.optimizer
    return out


def significant(result: Result) -> set[tuple[str, str]]:
    """The significant pairs, each as (better, worse) by mean."""
    means = {r.optimizer: r.mean for r in result.rows}
    return {(p["a"], p["b"]) if means[p["a"]] <= means[p["b"]] else (p["b"], p["a"])
            for p in result.pairs if p["significant"]}


def print_verdict(tuned: Result, untuned: Result) -> None:
    t_order, u_order = ordering(tuned.rows), ordering(untuned.rows)
    say(f"\nranking (best first by final mean val_loss)\n  tuned:   {t_order}\n"
        f"  untuned: {u_order}")
    untuned_rank = {r.optimizer: r.rank for r in untuned.rows}
    changed = any(r.rank != untuned_rank[r.optimizer] for r in tuned.rows)
    say(f"  the ranking differs between the two tables: {'YES' if changed else 'no'}")
    t_sig, u_sig = significant(tuned), significant(untuned)
    say(f"  significant differences, tuned: {fmt_pairs(t_sig)}; untuned: {fmt_pairs(u_sig)}")
    flipped = {(a, b) for a, b in t_sig if (b, a) in u_sig}
    if flipped:
        say(f"  significant in both tables but in opposite directions: {fmt_pairs(flipped)}")
    say(f"  compute, tuned / untuned: {tuned.steps / untuned.steps:.1f}× the optimizer steps "
        f"({tuned.steps:,} vs {untuned.steps:,}), {tuned.runs} vs {untuned.runs} runs, "
        f"{tuned.wall:.1f} s vs {untuned.wall:.1f} s wall")


def fmt_pairs(pairs: set[tuple[str, str]]) -> str:
    return ", ".join(f"{a} < {b}" for a, b in sorted(pairs)) or "none"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="5 epochs, budget 6 per optimizer, 3 final seeds")
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--parallelism", type=int, default=2,
                        help="runs of the comparison queued or running at once (default 2: "
                             "one per worker)")
    args = parser.parse_args(argv)
    setting = (Setting(5, 6, 3, args.parallelism) if args.quick
               else Setting(20, 20, 5, args.parallelism))
    load = os.getloadavg()
    say(f"optrack fair comparison benchmark — python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    say(f"command: {' '.join([Path(sys.executable).name, '-m', 'bench.compare', *sys.argv[1:]])}")
    say(f"digits, MLP 100-100, {setting.epochs} epochs, batch size 128, convention "
        f"{CONVENTION!r}; tuned: TPE (seed 0) over lr log-uniform [1e-5, 1], budget "
        f"{setting.budget} per optimizer, pruner {PRUNER}, parallelism {setting.parallelism}, "
        f"final seeds {setting.seeds}; untuned: book lr {BOOK_LR} × seeds {setting.seeds}; "
        f"service on {args.engine}, {args.workers} workers")
    started = time.perf_counter()
    with running_service(args.engine, args.workers, "optrack-bench-compare-") as (
            server, client, workers):
        tuned = run_tuned(server, client, setting, timeout=3600)
        say(f"  tuned comparison done in {tuned.wall:.1f} s")
        untuned = run_untuned(server, client, setting, timeout=1800)
        say(f"  untuned grid done in {untuned.wall:.1f} s")
        crashed = [w for w in workers.started if not w.alive]
    print_result(tuned, f"TUNED: each optimizer's best lr of {setting.budget} TPE + ASHA "
                        f"trials, re-run on {len(setting.seeds)} seeds")
    print_result(untuned, f"UNTUNED: the book's default learning rates, the same "
                          f"{len(setting.seeds)} seeds")
    print_verdict(tuned, untuned)
    if crashed:
        say(f"note: {len(crashed)} worker(s) exited during the benchmark")
    load = os.getloadavg()
    say(f"\ntotal wall time {time.perf_counter() - started:.0f} s; load average at the end "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
