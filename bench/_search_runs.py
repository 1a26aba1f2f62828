"""The searches of bench/search.py: its tasks, and one search run in this process with Optuna
directly or through the service."""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import optuna

import optim_core
from optrack.wire import decode_value
from tests.harness import Server, Workers, temp_database

from bench._format import say

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

@contextmanager
def running_service(engine: str, n_workers: int, prefix: str = "optrack-bench-search-"
                    ) -> Iterator[tuple[Server, httpx.Client, Workers]]:
    """A real server (access log off) over a fresh ``engine`` database and ``n_workers``
    worker processes; a client with the superuser's token. Everything stops on exit."""
    with ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix=prefix))
        url = stack.enter_context(temp_database(engine, tmp, prefix="optrack_bench"))
        server = stack.enter_context(Server(url, tmp, quiet=True))
        workers = Workers(Path(tmp))
        workers(server, n_workers)
        stack.callback(workers.stop)
        client = stack.enter_context(httpx.Client(base_url=server.url, headers=server.headers,
                                                  timeout=120))
        time.sleep(3)  # the workers import and start long-polling
        yield server, client, workers


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


# -- shared by the tables ---------------------------------------------------------------------

def table(headers: list[str], rows: list[list[str]], indent: str = "  ") -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    say(indent + "  ".join(h.ljust(w) if i == 0 else h.rjust(w)
                           for i, (h, w) in enumerate(zip(headers, widths))))
    for row in rows:
        say(indent + "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths))))


def med(values: list[float]) -> float:
    return statistics.median(values)
