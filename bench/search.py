"""Adaptive search benchmark: optrack's searches against Optuna driven directly, and what the
service's scheduling costs.

    python -m bench.search [--quick] [--seeds 5] [--trials 60] [--engine sqlite|postgresql]
                           [--parallelism 2] [--skip-service] [--skip-inprocess] [--skip-hard]
                           [--skip-latency]

1. The issue's task: digits, MLP 100-100, 30 epochs; space optimizer.lr log-uniform [1e-5, 1],
   optimizer.name in {sgd, momentum, adagrad, rmsprop, adam}, training.batch_size in
   {32, 64, 128, 256}; ``--trials`` trials per search, ``--seeds`` search seeds (0, 1, …). Three
   methods: random (Optuna's RandomSampler: ``random`` with an objective), TPE, and TPE + ASHA
   (min_resource 1, reduction_factor 3).
   - through the service: a real server (``--engine``, SQLite by default) and 2 worker processes,
     one search at a time, ``--parallelism`` trials in flight (default 2, one per worker);
   - in this process with Optuna directly: ``study.optimize`` (sequential) with the sampler and
     pruner classes and settings the service uses (RandomSampler(seed), TPESampler(seed,
     constant_liar=True), SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)); the
     objective trains ``optim_core.train`` on the config the service would run, reports each
     epoch's val_loss (evaluation 1, 2, …) and raises TrialPruned when told.
   Per search: the best objective (the last val_loss of a complete trial; a diverged run counts
   as +inf) and the optimizer steps consumed, the sum over trials of steps trained (stored
   train_loss points — train_loss is logged at every step, steps 1..n; in this process the same
   count, up to the report that pruned the trial). Medians over the seeds, min–max spread, the
   ratios service / in-process, and verdicts for the issue's targets.
2. A harder task where the space matters more: MLP 100x4, 20 epochs, 6 dimensions (lr,
   optimizer in {momentum, adam, rmsprop}, momentum [0, 0.99] — kept only where the optimizer
   has it, as the service does —, weight_decay log [1e-6, 1e-2], batch size, dropout [0, 0.5]);
   random against TPE, in process and (unless ``--skip-service``) through the service.
3. Scheduling cost, on a fresh database: the latency of POST /experiments/{id}/trials on an
   ask-and-tell TPE search after ``--fill`` (1,000) trials were asked, given one val_loss point and
   finished over the API; and the time from a trial's finish to its successor's lease (a
   parallelism-1 TPE search of tiny point-model runs, one worker), from the server's
   finished_at/started_at and from the worker's log lines.
A benchmark, not a test: it prints figures and exits 0.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import optuna

from tests.harness import Server, Workers, temp_database

from ._search_latency import ask_latency, successor_latency
from ._search_runs import (ASHA_LOSS_TOLERANCE, ASHA_STEPS_TARGET, METHODS, STEPS_TOLERANCE,
                          SearchResult, Task, digits_task, hard_task, inprocess_search, med,
                          running_service, say, service_search, table)


# -- summaries and tables ---------------------------------------------------------------------

def fmt_loss(v: float) -> str:
    return f"{v:.4f}" if math.isfinite(v) else str(v)


def spread(values: list[float]) -> str:
    return f"{fmt_loss(min(values))}–{fmt_loss(max(values))}"


def counts(results: list[SearchResult]) -> str:
    total = Counter()
    for r in results:
        total.update(r.statuses)
    return " ".join(f"{k[:4]} {v}" for k, v in sorted(total.items()))


def pruned_at(results: list[SearchResult]) -> str:
    total = Counter()
    for r in results:
        total.update(r.pruned_at)
    return ", ".join(f"@{k}: {v}" for k, v in sorted(total.items())) or "-"


Results = dict[str, dict[str, list[SearchResult]]]  # side -> method -> one per seed


def print_block(title: str, results: Results, labels: list[str]) -> None:
    say(f"\n{title}")
    rows = []
    for side, by_label in results.items():
        for label in labels:
            rs = by_label.get(label)
            if not rs:
                continue
            best = [r.best for r in rs]
            steps = [r.steps for r in rs]
            rows.append([f"{side} {label}", fmt_loss(med(best)), spread(best),
                         f"{med(steps):,.0f}", f"{min(steps):,}–{max(steps):,}",
                         f"{med([r.wall for r in rs]):.1f}", counts(rs), pruned_at(rs)])
    table(["search", "best val_loss", "min–max", "steps", "min–max", "wall s",
           "trials (all seeds)", "pruned at evaluation"], rows)
    for side, by_label in results.items():
        for label in labels:
            for i, r in enumerate(by_label.get(label, [])):
                for note in r.notes:
                    say(f"  note: {side} {label} seed {i}: {note}")
    service = results.get("service", {})
    if any(r.overshoot for rs in service.values() for r in rs):
        for label in labels:
            rs = service.get(label, [])
            over = sum(r.overshoot for r in rs)
            if over:
                say(f"  service {label}: {over:,} of its steps (all seeds) were stored after "
                    f"the evaluation its pruned trials were pruned at (same metrics batch)")


def print_ratios(results: Results, labels: list[str], verdict: bool = True) -> None:
    service, local = results.get("service", {}), results.get("in-process", {})
    shared = [label for label in labels if service.get(label) and local.get(label)]
    if not shared:
        return
    say("\n  service / in-process (medians over seeds)"
        + ("" if verdict else "; no target for this task, for information"))
    rows, verdicts = [], []
    for label in shared:
        s_best, l_best = [r.best for r in service[label]], [r.best for r in local[label]]
        s_steps, l_steps = med([r.steps for r in service[label]]), med(
            [r.steps for r in local[label]])
        ratio_best, ratio_steps = med(s_best) / med(l_best), s_steps / l_steps
        in_spread = min(l_best) <= med(s_best) <= max(l_best)
        steps_ok = abs(ratio_steps - 1) <= STEPS_TOLERANCE
        rows.append([label, f"{ratio_best:.3f}", f"{ratio_steps:.3f}",
                     "yes" if in_spread else "NO", "yes" if steps_ok else "NO"])
        verdicts.append(in_spread and steps_ok)
    table(["method", "best val_loss ratio", "steps ratio",
           "best within in-process min–max", f"steps within {STEPS_TOLERANCE:.0%}"], rows,
          indent="    ")
    if not verdict:
        return
    say(f"  verdict, service matches in-process Optuna: "
        f"{sum(verdicts)} of {len(verdicts)} methods meet both targets "
        f"({', '.join(l + (': MET' if v else ': NOT MET') for l, v in zip(shared, verdicts))})")


def print_asha_verdict(results: Results) -> None:
    for side, by_label in results.items():
        if not (by_label.get("random") and by_label.get("tpe+asha")):
            continue
        r_best, r_steps = (med([r.best for r in by_label["random"]]),
                           med([r.steps for r in by_label["random"]]))
        a_best, a_steps = (med([r.best for r in by_label["tpe+asha"]]),
                           med([r.steps for r in by_label["tpe+asha"]]))
        steps_ok = a_steps <= ASHA_STEPS_TARGET * r_steps
        loss_ok = a_best <= (1 + ASHA_LOSS_TOLERANCE) * r_best
        say(f"  verdict, {side} TPE + ASHA vs random: steps {a_steps / r_steps:.0%} of random's "
            f"(target <= {ASHA_STEPS_TARGET:.0%}: {'yes' if steps_ok else 'NO'}), best val_loss "
            f"{a_best / r_best - 1:+.1%} vs random's (target within "
            f"{ASHA_LOSS_TOLERANCE:.0%}: {'yes' if loss_ok else 'NO'}) -> "
            f"{'MET' if steps_ok and loss_ok else 'NOT MET'}")


def print_hard(results: Results) -> None:
    for side, by_label in results.items():
        if by_label.get("random") and by_label.get("tpe"):
            r = [x.best for x in by_label["random"]]
            t = [x.best for x in by_label["tpe"]]
            wins = sum(a < b for a, b in zip(t, r))
            say(f"  {side}: TPE's median best {fmt_loss(med(t))} vs random's {fmt_loss(med(r))} "
                f"({med(t) / med(r) - 1:+.1%}); TPE better on {wins} of {len(t)} seeds "
                f"(same seed number, different draws)")


# -- driving it -------------------------------------------------------------------------------

def run_service(engine: str, tasks: list[tuple[Task, list[str]]], seeds: int, trials: int,
                parallelism: int, n_workers: int, results: dict[str, Results]) -> None:
    with running_service(engine, n_workers) as (_, client, workers):
        say(f"\n[service: {engine}, {n_workers} workers, parallelism {parallelism}]")
        for task, labels in tasks:
            for label in labels:
                for seed in range(seeds):
                    r = service_search(client, task, label, seed, trials, parallelism,
                                       timeout=max(600.0, trials * 60.0))
                    results[task.name].setdefault("service", {}).setdefault(label, []).append(r)
                    say(f"  {task.name} {label:<8} seed {seed}: best {fmt_loss(r.best)}, "
                        f"{r.steps:,} steps, {r.wall:.1f} s, {dict(r.statuses)}")
        crashed = [w for w in workers.started if not w.alive]
        if crashed:
            say(f"  note: {len(crashed)} worker(s) exited during the searches")


def run_inprocess(tasks: list[tuple[Task, list[str]]], seeds: int, trials: int,
                  results: dict[str, Results]) -> None:
    say("\n[in-process: Optuna study.optimize, sequential]")
    for task, labels in tasks:
        for label in labels:
            for seed in range(seeds):
                r = inprocess_search(task, label, seed, trials)
                results[task.name].setdefault("in-process", {}).setdefault(label, []).append(r)
                say(f"  {task.name} {label:<8} seed {seed}: best {fmt_loss(r.best)}, "
                    f"{r.steps:,} steps, {r.wall:.1f} s, {dict(r.statuses)}")


def run_latency(engine: str, task: Task, fill: int, timed: int, successors: int) -> None:
    with ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="optrack-bench-search-"))
        url = stack.enter_context(temp_database(engine, tmp, prefix="optrack_bench"))
        # a search's trials count against the runs per experiment (1,000 by default): the
        # timed asks come after ``fill`` trials, so the limit is raised to fit them
        limit = max(1000, fill + timed)
        server = stack.enter_context(Server(url, tmp, quiet=True,
                                            settings={"max_runs_per_experiment": limit}))
        say(f"\n[scheduling cost: {engine}, a fresh database, max_runs_per_experiment {limit}]")
        ask_latency(server, task, fill, timed)
        successor_latency(server, Workers(Path(tmp)), successors)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="2 seeds, 10 trials, 6 epochs, 100 trials before the ask timing")
    parser.add_argument("--seeds", type=int, default=None, help="search seeds (default 5)")
    parser.add_argument("--trials", type=int, default=None, help="trials per search (60)")
    parser.add_argument("--epochs", type=int, default=None, help="digits task epochs (30)")
    parser.add_argument("--hard-epochs", type=int, default=None, help="hard task epochs (20)")
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--parallelism", type=int, default=2,
                        help="trials of a service search in flight (default 2: one per worker)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--fill", type=int, default=None,
                        help="finished trials before the timed asks (1000)")
    parser.add_argument("--skip-service", action="store_true")
    parser.add_argument("--skip-inprocess", action="store_true")
    parser.add_argument("--skip-hard", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    args = parser.parse_args(argv)
    quick = args.quick
    seeds = args.seeds or (2 if quick else 5)
    trials = args.trials or (10 if quick else 60)
    epochs = args.epochs or (6 if quick else 30)
    hard_epochs = args.hard_epochs or (6 if quick else 20)
    fill = args.fill or (100 if quick else 1000)
    timed, successors = (3, 8) if quick else (10, 21)

    digits, hard = digits_task(epochs), hard_task(hard_epochs)
    tasks = [(digits, list(METHODS))]
    if not args.skip_hard:
        tasks.append((hard, ["random", "tpe"]))
    load = os.getloadavg()
    say(f"optrack adaptive search benchmark — python {platform.python_version()}, optuna "
        f"{optuna.__version__}, {os.cpu_count()} CPUs, load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    say(f"command: {' '.join([Path(sys.executable).name, '-m', 'bench.search', *sys.argv[1:]])}")
    say(f"digits task: MLP 100-100, {epochs} epochs, lr log [1e-5, 1], optimizer in {{sgd, "
        f"momentum, adagrad, rmsprop, adam}}, batch size in {{32, 64, 128, 256}}; {trials} "
        f"trials per search, seeds 0..{seeds - 1}")
    if not args.skip_hard:
        say(f"hard task: MLP 100x4, {hard_epochs} epochs, lr log [1e-5, 1], optimizer in "
            f"{{momentum, adam, rmsprop}}, momentum [0, 0.99] (not for adam), weight_decay log "
            f"[1e-6, 1e-2], batch size in {{32, 64, 128, 256}}, dropout [0, 0.5]")
    results: dict[str, Results] = {task.name: {} for task, _ in tasks}
    started = time.perf_counter()
    if not args.skip_service:
        run_service(args.engine, tasks, seeds, trials, args.parallelism, args.workers, results)
    if not args.skip_inprocess:
        run_inprocess(tasks, seeds, trials, results)

    by_side = results[digits.name]
    if by_side:
        print_block(f"digits: best val_loss and optimizer steps, medians over {seeds} seeds "
                    f"(min–max across seeds); trials counted over all seeds", by_side,
                    list(METHODS))
        print_ratios(by_side, list(METHODS))
        print_asha_verdict(by_side)
    if not args.skip_hard and results[hard.name]:
        print_block(f"hard task (6 dimensions): random vs TPE, medians over {seeds} seeds",
                    results[hard.name], ["random", "tpe"])
        print_hard(results[hard.name])
        print_ratios(results[hard.name], ["random", "tpe"], verdict=False)
    if not args.skip_latency:
        run_latency(args.engine, digits, fill, timed, successors)
    load = os.getloadavg()
    say(f"\ntotal wall time {time.perf_counter() - started:.0f} s; load average at the end "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (a shared machine: other load inflates "
        f"wall times and latencies)")


if __name__ == "__main__":
    main()
