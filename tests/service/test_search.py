"""Adaptive search through the API on SQLite and PostgreSQL: trials asked of Optuna's samplers
one at a time from the stored runs, exactly ``trials`` of them, reproducible from the seed and
the order of completion; ask and tell over REST; early stopping by the pruner, with the run
ending ``pruned``. Workers are played here by the worker protocol's own calls."""

from __future__ import annotations

import importlib.util
import itertools
import math
from typing import Any

import pytest

from .conftest import all_counts, assert_error

WORKER_IDS = itertools.count()
API = "/api/v1/experiments"
SPACE = {"optimizer.lr": {"log_uniform": [1e-4, 1.0]},
         "optimizer.name": {"choice": ["sgd", "momentum", "adam"]},
         "optimizer.momentum": {"uniform": [0.0, 0.95]}}


def search_request(**search: Any) -> dict[str, Any]:
    return {"name": "lr search", "tags": ["search"], "dataset": {"name": "spiral", "samples": 100},
            "model": {"kind": "mlp", "hidden": [16]}, "optimizer": {"name": "adam"},
            "training": {"epochs": 3},
            "search": {"method": "tpe", "trials": 6, "parallelism": 2, "seed": 7,
                       "objective": {"metric": "val_loss", "mode": "min"}, "space": SPACE,
                       **search}}


def loss_of(config: dict[str, Any]) -> float:
    """A made-up objective: best near lr = 0.01, whatever the optimizer."""
    return (math.log10(config["optimizer"]["lr"]) + 2) ** 2 + 0.1


def experiment(client, experiment_id: str) -> dict[str, Any]:
    response = client.get(f"{API}/{experiment_id}")
    assert response.status_code == 200, response.text
    return response.json()


def lease(client) -> dict[str, Any] | None:
    # a worker of its own each time: a worker that asks again is given the run it holds
    response = client.post("/api/v1/worker/lease", json={"worker_id": f"w{next(WORKER_IDS)}",
                                                         "wait": 0})
    assert response.status_code in (200, 204), response.text
    return response.json() if response.status_code == 200 else None


def train(client, leased: dict[str, Any], losses: list[float],
          status: str = "succeeded") -> list[bool]:
    """Play a worker: one val_loss per evaluation, then finish (unless pruned); the pruned flag
    of every metrics response."""
    base = f"/api/v1/worker/runs/{leased['run_id']}"
    pruned = []
    for step, value in enumerate(losses):
        response = client.post(f"{base}/metrics", json={
            "attempt": leased["attempt"], "metrics": [{"key": "val_loss", "step": step,
                                                      "value": value}]})
        assert response.status_code == 200, response.text
        pruned.append(response.json()["pruned"])
        if pruned[-1]:
            return pruned
    response = client.post(f"{base}/finish", json={"attempt": leased["attempt"],
                                                   "status": status})
    assert response.status_code == 200, response.text
    return pruned


def run_search(client, body: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """Submit, then lease and finish trials one by one (the made-up objective, at every
    evaluation) until none is left; the experiment id and the leased configs in order."""
    created = client.post(API, json=body)
    assert created.status_code == 201, created.text
    leased = []
    while (next_run := lease(client)) is not None:
        leased.append(next_run["config"])
        value = loss_of(next_run["config"])
        train(client, next_run, [value + 1, value + 0.5, value])
    return created.json()["id"], leased


def test_an_adaptive_search_queues_its_first_trials_and_reports_its_progress(client):
    created = client.post(API, json=search_request())
    assert created.status_code == 201, created.text
    assert created.json()["status_counts"] == {"queued": 2}  # parallelism, not trials
    detail = experiment(client, created.json()["id"])
    assert detail["search"] == {"method": "tpe", "trials": 6, "done": 0, "in_flight": 2,
                                "pruned": 0, "best_run_id": None, "best_value": None}
    runs = [client.get(f"/api/v1/runs/{r}").json() for r in detail["run_ids"]]
    assert [r["name"] for r in runs] == ["lr search trial 0", "lr search trial 1"]
    for run in runs:
        optimizer = run["config"]["optimizer"]
        assert 1e-4 <= optimizer["lr"] <= 1.0 and optimizer["name"] in ("sgd", "momentum", "adam")
        # momentum applies where the sampled optimizer has it, and only there
        assert ("momentum" in optimizer) == (optimizer["name"] in ("sgd", "momentum"))
        assert run["tags"] == ["search"] and run["total_steps"] > 0


def test_a_search_runs_exactly_its_trials_and_names_the_best(client):
    experiment_id, leased = run_search(client, search_request())
    assert len(leased) == 6
    detail = experiment(client, experiment_id)
    assert len(detail["run_ids"]) == 6 and detail["status_counts"] == {"succeeded": 6}
    search = detail["search"]
    assert (search["done"], search["in_flight"], search["pruned"]) == (6, 0, 0)
    values = {r: loss_of(client.get(f"/api/v1/runs/{r}").json()["config"])
              for r in detail["run_ids"]}
    assert search["best_run_id"] == min(values, key=values.get)
    assert search["best_value"] == pytest.approx(values[search["best_run_id"]])
    assert lease(client) is None  # nothing more is ever queued


def test_the_trials_table_and_parameter_importance(client):
    experiment_id, leased = run_search(client, search_request(trials=8))
    table = client.get(f"{API}/{experiment_id}/trials").json()
    assert table["objective"] == {"metric": "val_loss", "mode": "min"}
    trials = table["trials"]
    assert [t["number"] for t in trials] == list(range(8))
    for trial, config in zip(trials, leased):
        assert trial["status"] == "succeeded" and trial["evaluations"] == 3
        assert trial["params"]["optimizer.lr"] == config["optimizer"]["lr"]
        assert trial["value"] == pytest.approx(loss_of(config))
    importance = client.get(f"{API}/{experiment_id}/importance").json()
    assert importance["complete_trials"] == 8 and importance["needed"] == 4
    found = importance["importances"]
    assert set(found) <= set(SPACE) and sum(found.values()) == pytest.approx(1.0)
    # the made-up objective depends on the learning rate alone
    assert max(found, key=found.get) == "optimizer.lr"


def test_the_same_seed_and_completion_order_sample_the_same_configs(client):
    _, first = run_search(client, search_request(trials=8))
    _, again = run_search(client, search_request(trials=8))
    _, other = run_search(client, search_request(trials=8, seed=8))
    assert first == again
    assert first != other


@pytest.mark.parametrize("method", ["random", "qmc", "cmaes"])
def test_every_sampler_runs_a_search_to_its_end(client, method):
    experiment_id, leased = run_search(client, search_request(
        method=method, trials=5, space={"optimizer.lr": {"log_uniform": [1e-4, 1.0]}}))
    assert len(leased) == 5 and len({c["optimizer"]["lr"] for c in leased}) == 5
    assert experiment(client, experiment_id)["search"]["done"] == 5


@pytest.mark.parametrize("search, loc", [
    ({"method": "hillclimb"}, "search.method"),
    ({"trials": 0}, "search.trials"),
    ({"parallelism": 0}, "search.parallelism"),
    ({"objective": None}, "search.objective"),
    ({"objective": {"metric": "val loss"}}, "search.objective.metric"),
    ({"objective": {"metric": "val_loss", "mode": "lowest"}}, "search.objective.mode"),
    ({"space": {}}, "search.space"),
    ({"space": {"optimizer.lr": {"log_uniform": [1.0, 1e-4]}}}, "search.space.optimizer.lr.log_uniform"),
    ({"space": {"optimizer.lr": {"log_uniform": [0, 1]}}}, "search.space.optimizer.lr.log_uniform"),
    ({"space": {"optimizer.name": {"choice": []}}}, "search.space.optimizer.name.choice"),
    ({"space": {"optimizer.lr": {"uniform": [-1, 1]}}}, "search.space.optimizer.lr"),
    ({"space": {"optimizer.betas2": {"uniform": [0, 1]}}}, "search.space.optimizer.betas2"),
    ({"space": {"optimizer.name": {"choice": ["sgd", "lion"]}}}, "search.space.optimizer.name"),
    ({"pruner": {"name": "sometimes"}}, "search.pruner.name"),
    ({"pruner": {"name": "asha", "reduction_factor": 1}}, "search.pruner.reduction_factor"),
    ({"trials": 5000}, "search.trials"),
])
def test_bad_searches_name_the_field_and_store_nothing(shared_client, search, loc):
    before = all_counts(shared_client.app)
    body = search_request(**search)
    body["search"] = {k: v for k, v in body["search"].items() if v is not None}
    error = assert_error(shared_client.post(API, json=body), 422, "invalid_input")
    assert error["details"][0]["loc"] == loc, error
    assert all_counts(shared_client.app) == before


def test_a_gp_search_is_taken_exactly_when_pytorch_is_there(shared_client):
    """Optuna's GP sampler runs on PyTorch, which optrack does not install: without it, 422
    naming the field; with it (a machine that has it), the search is taken."""
    response = shared_client.post(API, json=search_request(method="gp"))
    if importlib.util.find_spec("torch") is None:
        error = assert_error(response, 422, "invalid_input")
        assert error["details"][0]["loc"] == "search.method" and "PyTorch" in error["message"]
    else:
        assert response.status_code == 201, response.text
        assert response.json()["tags"] == ["search"]


def test_an_adaptive_search_starts_from_one_base_config(shared_client):
    body = search_request()
    body["optimizer"] = [{"name": "sgd"}, {"name": "adam"}]
    error = assert_error(shared_client.post(API, json=body), 422, "invalid_input")
    assert error["details"][0]["loc"] == "search.method" and "one base config" in error["message"]


def test_todays_random_search_still_expands_at_submission(client):
    body = search_request(method="random", trials=4,
                          space={"optimizer.lr": {"log_uniform": [1e-4, 1.0]}})
    for key in ("objective", "parallelism"):
        body["search"].pop(key)
    created = client.post(API, json=body)
    assert created.status_code == 201, created.text
    assert created.json()["status_counts"] == {"queued": 4}
    assert experiment(client, created.json()["id"])["search"] is None


def ask(client, experiment_id: str):
    return client.post(f"{API}/{experiment_id}/trials")


def test_ask_and_tell_over_rest(client):
    created = client.post(API, json=search_request(trials=3, external=True))
    assert created.status_code == 201 and created.json()["run_ids"] == [], created.text
    experiment_id = created.json()["id"]
    assert lease(client) is None  # nothing for optrack's workers
    for number in range(3):
        asked = ask(client, experiment_id)
        assert asked.status_code == 201, asked.text
        run = asked.json()
        assert run["external"] and run["status"] == "running"
        assert run["name"] == f"lr search trial {number}"
        value = loss_of(run["config"])
        logged = client.post(f"/api/v1/runs/{run['id']}/metrics", json={"metrics": [
            {"key": "val_loss", "step": 0, "value": value}]})
        assert logged.status_code == 200 and logged.json()["pruned"] is False
        assert client.post(f"/api/v1/runs/{run['id']}/finish", json={}).status_code == 200
    assert_error(ask(client, experiment_id), 409, "conflict")
    search = experiment(client, experiment_id)["search"]
    assert (search["done"], search["in_flight"]) == (3, 0) and search["best_run_id"]


def test_asking_a_search_that_workers_run_is_a_conflict(client):
    created = client.post(API, json=search_request())
    assert_error(ask(client, created.json()["id"]), 409, "conflict")
    grid = client.post(API, json={"name": "grid", "optimizer": {"name": "adam"},
                                  "model": {"kind": "point"}, "training": {"steps": 5}})
    assert_error(ask(client, grid.json()["id"]), 409, "conflict")
    for view in ("trials", "importance"):
        assert_error(client.get(f"{API}/{grid.json()['id']}/{view}"), 409, "conflict")
    assert_error(ask(client, "no-such-experiment"), 404, "not_found")


def test_a_trial_that_never_logs_its_objective_counts_as_failed(client):
    created = client.post(API, json=search_request(trials=2, parallelism=1))
    leased = lease(client)
    response = client.post(f"/api/v1/worker/runs/{leased['run_id']}/finish",
                           json={"attempt": leased["attempt"], "status": "succeeded"})
    assert response.status_code == 200, response.text
    run = client.get(f"/api/v1/runs/{leased['run_id']}").json()
    assert run["status"] == "succeeded" and "'val_loss' was never logged" in run["error"]
    search = experiment(client, created.json()["id"])["search"]
    assert search["done"] == 1 and search["in_flight"] == 1 and search["best_run_id"] is None


def test_asha_prunes_a_hopeless_trial_which_ends_pruned(client):
    body = search_request(trials=4, parallelism=1, method="random",
                          pruner={"name": "asha", "min_resource": 1, "reduction_factor": 2})
    created = client.post(API, json=body)
    experiment_id = created.json()["id"]
    good = [1.0, 0.5, 0.25, 0.2]
    assert train(client, lease(client), good) == [False] * 4  # the first trial sets the bar
    bad = lease(client)
    assert train(client, bad, [2.0, 1.9, 1.8, 1.7]) == [True]  # worse at the first rung
    run = client.get(f"/api/v1/runs/{bad['run_id']}").json()
    assert run["status"] == "pruned" and run["finished_at"]
    history = client.get(f"/api/v1/runs/{bad['run_id']}/metrics",
                         params={"keys": ["val_loss"]}).json()["series"][0]
    assert history["steps"] == [0] and history["values"] == [2.0]  # its metrics are kept
    again = client.post(f"/api/v1/worker/runs/{bad['run_id']}/metrics", json={
        "attempt": bad["attempt"], "metrics": [{"key": "val_loss", "step": 1, "value": 1.9}]})
    assert_error(again, 409, "conflict")  # the worker's lease ended with the decision
    beat = client.post(f"/api/v1/worker/runs/{bad['run_id']}/heartbeat",
                       json={"attempt": bad["attempt"]})
    assert beat.status_code == 200 and beat.json()["cancelled"] and beat.json()["pruned"]
    attempts = client.get(f"/api/v1/runs/{bad['run_id']}/attempts").json()["attempts"]
    assert [a["outcome"] for a in attempts] == ["pruned"]
    search = experiment(client, experiment_id)["search"]
    assert search["pruned"] == 1 and search["in_flight"] == 1  # the next trial is queued
    found = client.get("/api/v1/runs", params={"filter": "status = 'pruned'"}).json()["runs"]
    assert [r["id"] for r in found] == [bad["run_id"]]


def test_the_demo_experiments_are_accepted_and_the_search_starts(client):
    from service.cli.demo import EXPERIMENTS, SEARCH

    for body in EXPERIMENTS:
        response = client.post(API, json=body)
        assert response.status_code == 201, (body["name"], response.text)
    search = client.get(API, params={"tag": "search"}).json()["experiments"]
    assert [e["name"] for e in search] == [SEARCH["name"]]
    assert search[0]["status_counts"] == {"queued": SEARCH["search"]["parallelism"]}


def test_a_batch_of_several_evaluations_is_judged_at_each_of_them(client):
    """The pruner is asked after every report, as in one Optuna process: a trial whose batch
    passes the last rung but failed an earlier one is pruned."""
    body = search_request(trials=2, external=True, method="random",
                          pruner={"name": "asha", "min_resource": 1, "reduction_factor": 2})
    experiment_id = client.post(API, json=body).json()["id"]

    def log(run_id: str, values: list[float], first_step: int = 0):
        return client.post(f"/api/v1/runs/{run_id}/metrics", json={"metrics": [
            {"key": "val_loss", "step": first_step + i, "value": v}
            for i, v in enumerate(values)]}).json()

    first = ask(client, experiment_id).json()["id"]
    for step, value in enumerate([1.0, 0.5, 0.9, 0.9]):  # rungs at evaluations 1, 2 and 4
        assert log(first, [value], step)["pruned"] is False
    client.post(f"/api/v1/runs/{first}/finish", json={})
    second = ask(client, experiment_id).json()["id"]
    # passes rung 1 (0.8 < 1.0) and would pass rung 4 (0.1 < 0.9), but fails rung 2 (0.9 > 0.5)
    assert log(second, [0.8, 0.9, 0.1, 0.1]) == {"received": 4, "inserted": 4, "pruned": True}
    assert client.get(f"/api/v1/runs/{second}").json()["status"] == "pruned"


def test_a_sampler_that_fails_makes_a_failed_trial_and_the_search_goes_on(client, monkeypatch):
    from service.search import trials

    real, calls = trials.ask, []

    def flaky(*args):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the sampler broke")
        return real(*args)

    monkeypatch.setattr(trials, "ask", flaky)
    created = client.post(API, json=search_request(trials=3, parallelism=1))
    assert created.status_code == 201, created.text
    assert created.json()["status_counts"] == {"failed": 1, "queued": 1}
    experiment_id, runs = created.json()["id"], created.json()["run_ids"]
    broken = client.get(f"/api/v1/runs/{runs[0]}").json()
    assert broken["status"] == "failed" and "sampler" in broken["error"]
    while (next_run := lease(client)) is not None:  # the search still runs to its end
        train(client, next_run, [loss_of(next_run["config"])])
    search = experiment(client, experiment_id)["search"]
    assert (search["done"], search["in_flight"]) == (3, 0) and search["best_run_id"]
