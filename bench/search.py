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
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import httpx
import optuna

import optim_core
from optrack.wire import decode_value
from tests.harness import Server, Workers, temp_database

optuna.logging.set_verbosity(optuna.logging.WARNING)

OBJECTIVE = {"metric": "val_loss", "mode": "min"}
ASHA = {"name": "asha", "min_resource": 1, "reduction_factor": 3}
METHODS = {  # label -> (search method, pruner)
    "random": ("random", None),
    "tpe": ("tpe", None),
    "tpe+asha": ("tpe", ASHA),
}
STEPS_TOLERANCE = 0.10  # service steps within 10 % of in-process Optuna's
ASHA_STEPS_TARGET = 0.30  # TPE + ASHA at most 30 % of random's steps …
ASHA_LOSS_TOLERANCE = 0.10  # … for a best val_loss within 10 % of random's
ASK_TARGET_MS = 100
SUCCESSOR_TARGET_MS = 200


def say(msg: str = "") -> None:
    print(msg, flush=True)


# -- tasks ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Task:
    name: str
    model: dict[str, Any]
    epochs: int
    space: dict[str, dict[str, Any]]
    base_optimizer: str = "adam"
    base_batch_size: int = 128

    def request(self, label: str, seed: int, trials: int, parallelism: int) -> dict[str, Any]:
        method, pruner = METHODS[label]
        search = {"method": method, "trials": trials, "parallelism": parallelism, "seed": seed,
                  "objective": OBJECTIVE, "space": self.space}
        if pruner is not None:
            search["pruner"] = pruner
        return {"name": f"bench {self.name} {label} seed {seed}", "tags": ["bench-search"],
                "dataset": "digits", "model": self.model,
                "optimizer": {"name": self.base_optimizer},
                "training": {"epochs": self.epochs, "batch_size": self.base_batch_size},
                "search": search}

    def config(self, params: dict[str, Any]) -> dict[str, Any]:
        """The flat optim_core config of a trial, as the service builds it: each sampled
        ``section.field`` set on the base config, and a sampled optimizer hyperparameter the
        sampled optimizer does not have left out (service/search/trials.py, trial_config)."""
        sections = {"model": dict(self.model), "optimizer": {"name": self.base_optimizer},
                    "training": {"epochs": self.epochs, "batch_size": self.base_batch_size}}
        for path, value in params.items():
            section, _, key = path.partition(".")
            sections[section][key] = value
        optimizer = sections["optimizer"]
        known = {"name", "convention",
                 *optim_core.catalog()["optimizers"][optimizer["name"]]["hyperparameters"]}
        sections["optimizer"] = {k: v for k, v in optimizer.items()
                                 if k in known or f"optimizer.{k}" not in params}
        return {"dataset": "digits", "model": sections["model"],
                "optimizer": sections["optimizer"], **sections["training"], "seed": 0}


def digits_task(epochs: int) -> Task:
    return Task("digits", {"kind": "mlp", "hidden": [100, 100]}, epochs, {
        "optimizer.lr": {"log_uniform": [1e-5, 1.0]},
        "optimizer.name": {"choice": ["sgd", "momentum", "adagrad", "rmsprop", "adam"]},
        "training.batch_size": {"choice": [32, 64, 128, 256]}})


def hard_task(epochs: int) -> Task:
    return Task("hard", {"kind": "mlp", "hidden": [100, 100, 100, 100]}, epochs, {
        "optimizer.lr": {"log_uniform": [1e-5, 1.0]},
        "optimizer.name": {"choice": ["momentum", "adam", "rmsprop"]},
        "optimizer.momentum": {"uniform": [0.0, 0.99]},
        "optimizer.weight_decay": {"log_uniform": [1e-6, 1e-2]},
        "training.batch_size": {"choice": [32, 64, 128, 256]},
        "model.dropout": {"uniform": [0.0, 0.5]}})


# -- one search's result ----------------------------------------------------------------------

@dataclass
class SearchResult:
    best: float  # the best objective of a complete trial (inf if none)
    steps: int  # optimizer steps trained over all trials
    wall: float  # seconds
    statuses: Counter = field(default_factory=Counter)  # succeeded/pruned/diverged/failed
    pruned_at: Counter = field(default_factory=Counter)  # evaluation index -> pruned trials
    overshoot: int = 0  # steps stored past the pruning evaluation (service only)
    notes: list[str] = field(default_factory=list)


# -- in process: Optuna directly --------------------------------------------------------------

def suggest(trial: optuna.Trial, path: str, dist: dict[str, Any]) -> Any:
    kind, args = next(iter(dist.items()))
    if kind == "choice":
        return trial.suggest_categorical(path, args)
    if kind == "int_uniform":
        return trial.suggest_int(path, math.ceil(args[0]), math.floor(args[1]))
    return trial.suggest_float(path, args[0], args[1], log=kind == "log_uniform")


def inprocess_search(task: Task, label: str, seed: int, trials: int) -> SearchResult:
    method, pruner_spec = METHODS[label]
    if method == "tpe":
        sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    else:
        sampler = optuna.samplers.RandomSampler(seed=seed)
    pruner = (optuna.pruners.SuccessiveHalvingPruner(
        min_resource=pruner_spec["min_resource"], reduction_factor=pruner_spec["reduction_factor"])
        if pruner_spec else optuna.pruners.NopPruner())
    study = optuna.create_study(direction="minimize", sampler=sampler, pruner=pruner)
    res = SearchResult(math.inf, 0, 0.0)

    def objective(trial: optuna.Trial) -> float:
        params = {path: suggest(trial, path, dist) for path, dist in task.space.items()}
        evaluations, last = 0, math.nan
        for event in optim_core.train(task.config(params)):
            if isinstance(event, optim_core.Metrics):
                if "train_loss" in event.values:
                    res.steps += 1
                if "val_loss" in event.values:
                    evaluations += 1
                    last = event.values["val_loss"]
                    trial.report(last, evaluations)
                    if trial.should_prune():
                        res.statuses["pruned"] += 1
                        res.pruned_at[evaluations] += 1
                        raise optuna.TrialPruned()
            elif isinstance(event, optim_core.Finished):
                outcome = event.summary["outcome"]
                res.statuses[outcome] += 1
                if outcome == "diverged":
                    return math.inf
        return last  # NaN: Optuna counts the trial as failed, as the service does

    started = time.perf_counter()
    study.optimize(objective, n_trials=trials)
    res.wall = time.perf_counter() - started
    complete = [t.value for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    res.best = min(complete, default=math.inf)
    failed = sum(t.state == optuna.trial.TrialState.FAIL for t in study.trials)
    if failed:
        res.statuses["failed"] += failed
    return res


# -- through the service ----------------------------------------------------------------------

def wait_search(client: httpx.Client, experiment_id: str, trials: int,
                timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        search = client.get(f"/api/v1/experiments/{experiment_id}").json()["search"]
        if search["done"] >= trials and search["in_flight"] == 0:
            return search
        if time.monotonic() > deadline:
            raise TimeoutError(f"search {experiment_id} not done after {timeout:.0f} s: {search}")
        time.sleep(0.5)


def series(client: httpx.Client, run_ids: list[str], key: str,
           max_points: int) -> dict[str, dict[str, Any]]:
    response = client.post("/api/v1/metrics/query",
                           json={"run_ids": run_ids, "keys": [key], "max_points": max_points})
    response.raise_for_status()
    return {s["run_id"]: s for s in response.json()["series"]}


def service_search(client: httpx.Client, task: Task, label: str, seed: int, trials: int,
                   parallelism: int, timeout: float) -> SearchResult:
    started = time.perf_counter()
    response = client.post("/api/v1/experiments",
                           json=task.request(label, seed, trials, parallelism))
    assert response.status_code == 201, response.text
    experiment_id = response.json()["id"]
    summary = wait_search(client, experiment_id, trials, timeout)
    wall = time.perf_counter() - started
    rows = client.get(f"/api/v1/experiments/{experiment_id}/trials").json()["trials"]
    runs = {r["id"]: r for r in client.get("/api/v1/runs", params={
        "experiment": experiment_id, "limit": 1000}).json()["runs"]}
    ids = [row["run_id"] for row in rows]
    train = series(client, ids, "train_loss", 10)  # total_points is exact however downsampled
    val = series(client, ids, "val_loss", 1000)
    res = SearchResult(math.inf, 0, wall)
    mismatched = 0
    for row in rows:
        run = runs[row["run_id"]]
        stored = train[row["run_id"]]["total_points"]
        res.steps += stored
        mismatched += (run["step"] or 0) != stored  # train_loss steps are 1..n
        res.statuses[row["status"]] += 1
        if row["value"] is not None:
            res.best = min(res.best, decode_value(row["value"]))
        if row["status"] == "pruned":
            res.pruned_at[row["evaluations"]] += 1
            val_steps = val[row["run_id"]]["steps"]
            res.overshoot += stored - (val_steps[-1] if val_steps else 0)
    reported = decode_value(summary["best_value"]) if summary["best_value"] is not None \
        else math.inf
    if reported != res.best:
        res.notes.append(f"the search summary's best_value {summary['best_value']} differs "
                         f"from the trials table's best {res.best}")
    if mismatched:
        res.notes.append(f"{mismatched} runs' highest logged step differs from their stored "
                         f"train_loss points")
    if summary["pruned"] != res.statuses.get("pruned", 0):
        res.notes.append(f"summary says {summary['pruned']} pruned, trials table "
                         f"{res.statuses.get('pruned', 0)}")
    return res


# -- summaries and tables ---------------------------------------------------------------------

def table(headers: list[str], rows: list[list[str]], indent: str = "  ") -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    say(indent + "  ".join(h.ljust(w) if i == 0 else h.rjust(w)
                           for i, (h, w) in enumerate(zip(headers, widths))))
    for row in rows:
        say(indent + "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths))))


def fmt_loss(v: float) -> str:
    return f"{v:.4f}" if math.isfinite(v) else str(v)


def med(values: list[float]) -> float:
    return statistics.median(values)


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


# -- scheduling cost --------------------------------------------------------------------------

def fake_loss(config: dict[str, Any]) -> float:
    """A made-up objective with some structure for TPE: best near lr 3e-3, adam a bit ahead."""
    optimizer = config["optimizer"]
    offset = {"adam": 0.0, "rmsprop": 0.05, "adagrad": 0.1, "momentum": 0.1, "sgd": 0.2}
    return ((math.log10(optimizer["lr"]) + 2.5) ** 2 * 0.1 + 0.08
            + offset.get(optimizer["name"], 0.3))


def quantile(values: list[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default)."""
    xs = sorted(values)
    pos = (len(xs) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def ask_latency(server: Server, task: Task, fill: int, timed: int) -> None:
    with httpx.Client(base_url=server.url, headers=server.headers, timeout=120) as client:
        body = task.request("tpe", 0, fill + timed, 1)
        body["name"] = "bench ask latency"
        body["search"]["external"] = True
        del body["search"]["parallelism"]
        response = client.post("/api/v1/experiments", json=body)
        assert response.status_code == 201, response.text
        experiment_id = response.json()["id"]

        def ask_log_finish() -> float:
            t0 = time.perf_counter()
            asked = client.post(f"/api/v1/experiments/{experiment_id}/trials")
            took = time.perf_counter() - t0
            assert asked.status_code == 201, asked.text
            run = asked.json()
            logged = client.post(f"/api/v1/runs/{run['id']}/metrics", json={"metrics": [
                {"key": "val_loss", "step": 0, "value": fake_loss(run["config"])}]})
            assert logged.status_code == 200, logged.text
            finished = client.post(f"/api/v1/runs/{run['id']}/finish",
                                   json={"status": "succeeded"})
            assert finished.status_code == 200, finished.text
            return took

        started = time.perf_counter()
        fill_times = [ask_log_finish() for _ in range(fill)]
        fill_wall = time.perf_counter() - started
        at_fill = [ask_log_finish() for _ in range(timed)]
        search = client.get(f"/api/v1/experiments/{experiment_id}").json()["search"]
    say(f"\nask latency: POST /api/v1/experiments/{{id}}/trials on an ask-and-tell TPE search "
        f"(the digits space, 3 dimensions), each trial given one val_loss point and finished "
        f"over the API")
    say(f"  {fill:,} trials asked, logged and finished in {fill_wall:.1f} s "
        f"({fill_wall / fill * 1000:.0f} ms per trial, 3 requests); search now done "
        f"{search['done']}, best {search['best_value']}")
    bucket = max(1, fill // 10)
    rows = []
    for lo in range(0, fill, bucket):
        chunk = fill_times[lo:lo + bucket]
        rows.append([f"asks {lo}–{lo + len(chunk) - 1}", f"{med(chunk) * 1000:.1f}",
                     f"{quantile(chunk, 0.95) * 1000:.1f}", f"{max(chunk) * 1000:.1f}"])
    rows.append([f"at {fill:,} finished ({timed} asks)", f"{med(at_fill) * 1000:.1f}",
                 f"{quantile(at_fill, 0.95) * 1000:.1f}", f"{max(at_fill) * 1000:.1f}"])
    table(["trials already asked", "median ms", "p95 ms", "max ms"], rows)
    ok = quantile(at_fill, 0.5) * 1000 <= ASK_TARGET_MS
    say(f"  verdict: ask at {fill:,} finished trials, median {med(at_fill) * 1000:.0f} ms, p95 "
        f"{quantile(at_fill, 0.95) * 1000:.0f} ms (target <= {ASK_TARGET_MS} ms): "
        f"{'MET' if ok else 'NOT MET'}"
        + ("" if quantile(at_fill, 0.95) * 1000 <= ASK_TARGET_MS else " (p95 over the target)"))
    inprocess_ask_reference(task, fill)


def inprocess_ask_reference(task: Task, fill: int, repeats: int = 5) -> None:
    """What the ask costs Optuna alone at that size, to tell the sampler's share from the
    service's: a study rebuilt from ``fill`` finished trials (as each of the service's asks
    does), then one TPE ask, in this process."""
    rng = optuna.samplers.RandomSampler(seed=1)
    source = optuna.create_study(sampler=rng)
    dists = {}
    for path, dist in task.space.items():
        kind, args = next(iter(dist.items()))
        dists[path] = (optuna.distributions.CategoricalDistribution(args) if kind == "choice"
                       else optuna.distributions.FloatDistribution(
                           args[0], args[1], log=kind == "log_uniform"))
    made = []
    for _ in range(fill):
        t = source.ask(fixed_distributions=dists)
        config = task.config(t.params)
        made.append(optuna.trial.create_trial(
            params=t.params, distributions=dists, value=fake_loss(config),
            intermediate_values={1: fake_loss(config)}))
    rebuild, asking = [], []
    for i in range(repeats):
        t0 = time.perf_counter()
        study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=i, constant_liar=True))
        for trial in made:
            study.add_trial(trial)
        t1 = time.perf_counter()
        study.ask(fixed_distributions=dists)
        t2 = time.perf_counter()
        rebuild.append(t1 - t0)
        asking.append(t2 - t1)
    say(f"  reference, Optuna alone in this process: rebuilding an in-memory study of {fill:,} "
        f"finished trials {med(rebuild) * 1000:.1f} ms, then one TPESampler(constant_liar=True) "
        f"ask {med(asking) * 1000:.1f} ms (medians of {repeats})")


LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) optrack\.worker "
                      r"(lease|finish) run=(\w+)")


def successor_latency(server: Server, workers: Workers, trials: int) -> None:
    worker = workers(server, 1)[0]
    try:
        with httpx.Client(base_url=server.url, headers=server.headers, timeout=60) as client:
            time.sleep(3)  # the worker imports and starts long-polling
            body = {"name": "bench successor", "model": {"kind": "point"},
                    "optimizer": {"name": "adam"}, "training": {"steps": 5},
                    "search": {"method": "tpe", "trials": trials, "parallelism": 1, "seed": 0,
                               "objective": {"metric": "f", "mode": "min"},
                               "space": {"optimizer.lr": {"log_uniform": [1e-3, 1.0]}}}}
            response = client.post("/api/v1/experiments", json=body)
            assert response.status_code == 201, response.text
            experiment_id = response.json()["id"]
            wait_search(client, experiment_id, trials, timeout=300)
            rows = client.get(f"/api/v1/experiments/{experiment_id}/trials").json()["trials"]
            runs = {r["id"]: r for r in client.get("/api/v1/runs", params={
                "experiment": experiment_id, "limit": 1000}).json()["runs"]}
    finally:
        workers.stop()
    ordered = [runs[row["run_id"]] for row in rows]
    server_gaps = [ts(b["started_at"]) - ts(a["finished_at"])
                   for a, b in zip(ordered, ordered[1:])]
    events = {}
    for line in worker.log().splitlines():
        m = LOG_TIME.match(line)
        if m:
            when = datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()
            events[(m[2], m[3])] = when
    log_gaps = [events[("lease", b["id"])] - events[("finish", a["id"])]
                for a, b in zip(ordered, ordered[1:])
                if ("finish", a["id"]) in events and ("lease", b["id"]) in events]
    statuses = Counter(r["status"] for r in ordered)
    say(f"\nsuccessor lease: a TPE search of {trials} tiny runs (point model, 5 steps; objective "
        f"f), parallelism 1, one worker; {dict(statuses)}")
    rows = []
    for what, gaps in (("server: finished_at -> successor's started_at", server_gaps),
                       ("worker log: 'finish' line -> next 'lease' line", log_gaps)):
        if gaps:
            rows.append([what, str(len(gaps)), f"{med(gaps) * 1000:.0f}",
                         f"{quantile(gaps, 0.95) * 1000:.0f}", f"{max(gaps) * 1000:.0f}"])
    table(["measured", "gaps", "median ms", "p95 ms", "max ms"], rows)
    ok = bool(server_gaps) and med(server_gaps) * 1000 <= SUCCESSOR_TARGET_MS
    say(f"  verdict: finish -> successor's lease, median {med(server_gaps) * 1000:.0f} ms "
        f"(target <= {SUCCESSOR_TARGET_MS} ms): {'MET' if ok else 'NOT MET'}"
        + ("" if quantile(server_gaps, 0.95) * 1000 <= SUCCESSOR_TARGET_MS
           else " (p95 over the target)"))


def ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


# -- driving it -------------------------------------------------------------------------------

def run_service(engine: str, tasks: list[tuple[Task, list[str]]], seeds: int, trials: int,
                parallelism: int, n_workers: int, results: dict[str, Results]) -> None:
    with ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="optrack-bench-search-"))
        url = stack.enter_context(temp_database(engine, tmp, prefix="optrack_bench"))
        server = stack.enter_context(Server(url, tmp, quiet=True))
        workers = Workers(Path(tmp))
        workers(server, n_workers)
        stack.callback(workers.stop)
        client = stack.enter_context(httpx.Client(base_url=server.url, headers=server.headers,
                                                  timeout=120))
        time.sleep(3)  # the workers import and start long-polling
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
