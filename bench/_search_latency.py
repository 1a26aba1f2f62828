"""The scheduling costs bench/search.py measures: the latency of an ask at many finished trials,
and the time from a trial's finish to its successor's lease."""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from datetime import datetime
from typing import Any

import httpx
import optuna

from tests.harness import Server, Workers

from ._stats import quantile
from ._search_runs import ASK_TARGET_MS, SUCCESSOR_TARGET_MS, Task, med, say, table, wait_search


# -- scheduling cost --------------------------------------------------------------------------

def fake_loss(config: dict[str, Any]) -> float:
    """A made-up objective with some structure for TPE: best near lr 3e-3, adam a bit ahead."""
    optimizer = config["optimizer"]
    offset = {"adam": 0.0, "rmsprop": 0.05, "adagrad": 0.1, "momentum": 0.1, "sgd": 0.2}
    return ((math.log10(optimizer["lr"]) + 2.5) ** 2 * 0.1 + 0.08
            + offset.get(optimizer["name"], 0.3))


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


