"""Fair comparisons of optimizers through the API on SQLite and PostgreSQL: every optimizer gets
its own search of exactly ``budget`` trials, then ``final_seeds`` unpruned runs of its best
config on seeds no search trial used, started only after its search ended; the result's
statistics are SciPy's on the stored values. Workers are played by the worker protocol."""

from __future__ import annotations

import csv
import io
import math
from typing import Any

import pytest
from scipy import stats

from .conftest import all_counts, assert_error
from .test_search import API, experiment, lease, train

OPTIMIZERS = ["sgd", "momentum", "adagrad", "adam"]
OFFSET = {"sgd": 0.5, "momentum": 0.2, "nesterov": 0.25, "adagrad": 0.4, "adam": 0.1}


def compare_request(**search: Any) -> dict[str, Any]:
    return {"name": "ch6", "tags": ["compare"], "dataset": {"name": "spiral", "samples": 100},
            "model": {"kind": "mlp", "hidden": [16]}, "training": {"epochs": 3, "seed": 3},
            "search": {"method": "compare", "optimizers": OPTIMIZERS,
                       "tune": {"optimizer.lr": {"log_uniform": [1e-4, 1.0]}},
                       "budget": 3, "sampler": "tpe", "final_seeds": 3, "seed": 0,
                       "objective": {"metric": "val_loss", "mode": "min"}, **search}}


def loss_of(config: dict[str, Any]) -> float:
    """A made-up objective: best near lr = 0.01, each optimizer its own floor, and a little
    noise from the seed (so the final runs spread)."""
    lr, name = config["optimizer"]["lr"], config["optimizer"]["name"]
    noise = ((config["seed"] * 7919) % 13) / 100  # a leased config is flat
    return (math.log10(lr) + 2) ** 2 + OFFSET[name] + noise


def run_comparison(client, body: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """Submit, then lease and finish runs until none is left; every leased run with the
    experiment's trial table at that moment."""
    created = client.post(API, json=body)
    assert created.status_code == 201, created.text
    experiment_id, seen = created.json()["id"], []
    while (leased := lease(client)) is not None:
        table = client.get(f"{API}/{experiment_id}/trials").json()["trials"]
        seen.append({"lease": leased, "table": table})
        value = loss_of(leased["config"])
        train(client, leased, [value + 1, value + 0.5, value])
    return experiment_id, seen


def test_every_optimizer_gets_its_budget_then_final_runs_on_fresh_seeds(client):
    experiment_id, seen = run_comparison(client, compare_request())
    trials = client.get(f"{API}/{experiment_id}/trials").json()["trials"]
    assert len(trials) == 4 * 3 + 4 * 3 and len(seen) == len(trials)
    runs = {t["run_id"]: client.get(f"/api/v1/runs/{t['run_id']}").json() for t in trials}
    for name in OPTIMIZERS:
        search = [t for t in trials if t["optimizer"] == name and not t["final"]]
        final = [t for t in trials if t["optimizer"] == name and t["final"]]
        assert len(search) == 3 and len(final) == 3
        assert {runs[t["run_id"]]["config"]["optimizer"]["name"] for t in search + final} == {name}
        search_seeds = {runs[t["run_id"]]["config"]["training"]["seed"] for t in search}
        final_seeds = [runs[t["run_id"]]["config"]["training"]["seed"] for t in final]
        assert search_seeds == {3} and final_seeds == [4, 5, 6]
        ended = max(runs[t["run_id"]]["finished_at"] for t in search)
        assert all(runs[t["run_id"]]["created_at"] >= ended for t in final)
        best = min(search, key=lambda t: t["value"])
        for t in final:  # the best config, the seed aside
            config = runs[t["run_id"]]["config"]
            assert config["optimizer"] == runs[best["run_id"]]["config"]["optimizer"]
    # a final run was created only once its optimizer's search had no trial left running
    for step in seen:
        table, run_id = step["table"], step["lease"]["run_id"]
        row = next(t for t in table if t["run_id"] == run_id)
        if row["final"]:
            mine = [t for t in table if t["optimizer"] == row["optimizer"] and not t["final"]]
            assert len(mine) == 3 and all(t["status"] == "succeeded" for t in mine)
    assert lease(client) is None


def test_the_result_is_scipys_statistics_on_the_stored_values(client):
    experiment_id, _ = run_comparison(client, compare_request())
    detail = experiment(client, experiment_id)
    result = detail["comparison"]
    assert result["objective"] == {"metric": "val_loss", "mode": "min"}
    assert [o["optimizer"] for o in result["optimizers"]] == OPTIMIZERS
    finals = {}
    for entry in result["optimizers"]:
        assert entry["status"] == "done" and entry["tuned"] == ["optimizer.lr"]
        assert entry["trials"] == entry["budget"] == 3 and len(entry["final_run_ids"]) == 3
        assert entry["best_config"]["optimizer"]["name"] == entry["optimizer"]
        finals[entry["optimizer"]] = [_last(client, r) for r in entry["final_run_ids"]]
        stored = finals[entry["optimizer"]]
        final = entry["final"]
        assert final["n"] == 3 and final["values"] == pytest.approx(stored)
        assert final["mean"] == pytest.approx(sum(stored) / 3)
        assert final["std"] == pytest.approx(stats.tstd(stored))
        low, high = stats.t.interval(0.95, 2, loc=final["mean"], scale=stats.sem(stored))
        assert final["ci95"] == pytest.approx([low, high])
    means = {name: sum(v) / 3 for name, v in finals.items()}
    order = sorted(means, key=means.get)
    assert [e["rank"] for e in result["optimizers"]] == [order.index(n) + 1 for n in OPTIMIZERS]
    pairs = result["pairs"]
    assert len(pairs) == 6
    raw = [stats.ttest_ind(finals[p["a"]], finals[p["b"]], equal_var=False).pvalue
           for p in pairs]
    ordered = sorted(range(6), key=lambda i: raw[i])
    adjusted, running = [0.0] * 6, 0.0
    for k, i in enumerate(ordered):
        running = max(running, min(1.0, (6 - k) * raw[i]))
        adjusted[i] = running
    for pair, p, q in zip(pairs, raw, adjusted):
        assert pair["p_value"] == pytest.approx(p) and pair["p_holm"] == pytest.approx(q)
        assert pair["significant"] == (q <= 0.05)
    assert detail["search"]["method"] == "compare" and detail["search"]["trials"] == 12


def _last(client, run_id: str) -> float:
    """The run's stored last val_loss, read back through the API."""
    history = client.get(f"/api/v1/runs/{run_id}/metrics", params={"keys": "val_loss"})
    series = history.json()["series"][0]
    return series["values"][series["steps"].index(max(series["steps"]))]


def test_final_runs_are_never_pruned(client):
    body = compare_request(pruner={"name": "median", "n_startup_trials": 1},
                           optimizers=["sgd", "adam"], budget=3)
    created = client.post(API, json=body)
    assert created.status_code == 201, created.text
    experiment_id, final_pruned = created.json()["id"], []
    while (leased := lease(client)) is not None:
        table = client.get(f"{API}/{experiment_id}/trials").json()["trials"]
        final = next(t for t in table if t["run_id"] == leased["run_id"])["final"]
        assert (leased["prune_metric"] is None) == final
        losses = [100.0, 100.0, 100.0] if final else [loss_of(leased["config"])] * 3
        pruned = train(client, leased, losses)
        if final:
            final_pruned.append(any(pruned))
    assert final_pruned == [False] * 6  # hopeless curves, yet never stopped
    result = experiment(client, experiment_id)["comparison"]
    assert all(e["final"]["mean"] == 100.0 for e in result["optimizers"])
    # no spread on either side and equal means: defined, p = 1, not significant
    assert result["pairs"] == [{"a": "sgd", "b": "adam", "p_value": 1.0, "p_holm": 1.0,
                                "significant": False}]
    assert [e["rank"] for e in result["optimizers"]] == [1, 1]


def test_a_tuned_field_applies_to_the_optimizers_that_have_it(client):
    body = compare_request(optimizers=["sgd", "momentum", "nesterov", "adam"], budget=2,
                           tune={"optimizer.lr": {"log_uniform": [1e-3, 0.1]},
                                 "optimizer.momentum": {"uniform": [0.5, 0.99]}})
    experiment_id, seen = run_comparison(client, body)
    result = experiment(client, experiment_id)["comparison"]
    tuned = {e["optimizer"]: e["tuned"] for e in result["optimizers"]}
    assert tuned == {"sgd": ["optimizer.lr"], "adam": ["optimizer.lr"],
                     "momentum": ["optimizer.lr", "optimizer.momentum"],
                     "nesterov": ["optimizer.lr", "optimizer.momentum"]}
    for step in seen:
        optimizer = step["lease"]["config"]["optimizer"]
        if optimizer["name"] in ("momentum", "nesterov"):
            assert 0.5 <= optimizer["momentum"] <= 0.99
        else:  # plain SGD stays plain: a comparison never gives it momentum
            assert optimizer.get("momentum", 0) == 0


def test_an_optimizer_with_nothing_to_tune_runs_one_trial(client):
    body = compare_request(optimizers=["momentum", "adam"], budget=3,
                           tune={"optimizer.momentum": {"uniform": [0.5, 0.99]}},
                           final_seeds=2)
    body["optimizer"] = {"lr": 0.01}  # shared by both
    experiment_id, seen = run_comparison(client, body)
    result = experiment(client, experiment_id)["comparison"]
    adam = result["optimizers"][1]
    assert adam["tuned"] == [] and adam["budget"] == adam["trials"] == 1
    assert len(adam["final_run_ids"]) == 2 and adam["final"]["n"] == 2
    assert all(s["lease"]["config"]["optimizer"]["lr"] == 0.01 for s in seen)
    assert len(seen) == 3 + 2 + 1 + 2


def test_the_export_has_a_row_per_optimizer(client):
    experiment_id, _ = run_comparison(client, compare_request(optimizers=["sgd", "adam"]))
    result = experiment(client, experiment_id)["comparison"]
    rows = list(csv.DictReader(io.StringIO(client.get(f"{API}/{experiment_id}/export").text)))
    assert [r["optimizer"] for r in rows] == ["sgd", "adam"]
    for row, entry in zip(rows, result["optimizers"]):
        assert int(row["rank"]) == entry["rank"]
        assert float(row["final.mean"]) == pytest.approx(entry["final"]["mean"])
        assert float(row["final.ci95_low"]) == pytest.approx(entry["final"]["ci95"][0])
        assert float(row["best_params.optimizer.lr"]) == entry["best_params"]["optimizer.lr"]
        assert row["best_config.optimizer.name"] == entry["optimizer"]
    as_json = client.get(f"{API}/{experiment_id}/export", params={"format": "json"}).json()
    assert [r["optimizer"] for r in as_json] == ["sgd", "adam"]
    assert as_json[0]["final.std"] == pytest.approx(result["optimizers"][0]["final"]["std"])
    runs = client.get(f"{API}/{experiment_id}/export",
                      params={"format": "json", "table": "runs"}).json()
    assert len(runs) == 2 * 3 + 2 * 3


def test_importance_is_per_optimizer(client):
    experiment_id, _ = run_comparison(client, compare_request(optimizers=["sgd", "adam"],
                                                              budget=5))
    error = assert_error(client.get(f"{API}/{experiment_id}/importance"), 422, "invalid_input")
    assert error["details"][0]["loc"] == "optimizer"
    found = client.get(f"{API}/{experiment_id}/importance", params={"optimizer": "adam"}).json()
    assert found["complete_trials"] == 5 and found["importances"] == {"optimizer.lr": 1.0}


@pytest.mark.parametrize("search, loc", [
    ({"optimizers": ["adam"]}, "search.optimizers"),
    ({"optimizers": "adam"}, "search.optimizers"),
    ({"optimizers": ["adam", "lion"]}, "search.optimizers[1]"),
    ({"optimizers": ["adam", "adam"]}, "search.optimizers"),
    ({"tune": {"optimizer.alpha": {"uniform": [0.9, 0.99]}}}, "search.tune.optimizer.alpha"),
    ({"tune": {"optimizer.name": {"choice": ["sgd"]}}}, "search.tune.optimizer.name"),
    ({"tune": {"training.seed": {"int_uniform": [0, 9]}}}, "search.tune.training.seed"),
    ({"tune": {}}, "search.tune"),
    ({"final_seeds": 1}, "search.final_seeds"),
    ({"budget": 0}, "search.budget"),
    ({"budget": 2000}, "search.budget"),
    ({"sampler": "grid"}, "search.sampler"),
    ({"objective": None}, "search.objective"),
    ({"external": True}, "search.external"),
    ({"tune": {"optimizer.lr": {"uniform": [-1, 1]}}}, "search.tune.optimizer.lr"),
])
def test_bad_comparisons_name_the_field_and_store_nothing(shared_client, search, loc):
    before = all_counts(shared_client.app)
    body = compare_request(**search)
    body["search"] = {k: v for k, v in body["search"].items() if v is not None}
    error = assert_error(shared_client.post(API, json=body), 422, "invalid_input")
    assert error["details"][0]["loc"] == loc, error
    assert all_counts(shared_client.app) == before


@pytest.mark.parametrize("optimizer, loc", [
    ({"name": "adam"}, "optimizer.name"),
    ({"alpha": 0.9}, "optimizer.alpha"),
    ("adam", "optimizer"),
])
def test_a_comparisons_optimizer_section_holds_shared_settings_only(shared_client, optimizer,
                                                                    loc):
    before = all_counts(shared_client.app)
    body = {**compare_request(), "optimizer": optimizer}
    error = assert_error(shared_client.post(API, json=body), 422, "invalid_input")
    assert error["details"][0]["loc"] == loc, error
    assert all_counts(shared_client.app) == before


def test_a_grid_still_needs_its_optimizer(shared_client):
    body = {"name": "x", "dataset": "spiral", "training": {"epochs": 1}}
    error = assert_error(shared_client.post(API, json=body), 422, "invalid_input")
    assert error["details"][0]["loc"] == "optimizer"


def test_the_demo_comparison_starts_every_optimizers_search(client):
    from service.cli.demo import COMPARISON

    created = client.post(API, json=COMPARISON)
    assert created.status_code == 201, created.text
    trials = client.get(f"{API}/{created.json()['id']}/trials").json()["trials"]
    # four slots, one per optimizer: the searches advance together
    assert sorted(t["optimizer"] for t in trials) == sorted(COMPARISON["search"]["optimizers"])
    assert not any(t["final"] for t in trials)
