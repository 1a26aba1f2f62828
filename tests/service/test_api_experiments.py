"""POST/GET /api/v1/experiments: expansion into queued runs, validation with field paths, the
run cap, listing with filters and pagination, detail with summary, export — on both engines."""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import statistics
import tracemalloc
from datetime import datetime

import pytest

from service.models import Experiment, ExperimentTag, Project, Run, RunTag

from .conftest import (FOUR_OPTIMIZERS, all_counts, assert_error, count_rows, experiment_request,
                       set_status)

API = "/api/v1/experiments"


def submit(client, **overrides):
    response = client.post(API, json=experiment_request(**overrides))
    assert response.status_code == 201, response.text
    return response.json()


def runs_of(client, experiment):
    return [client.get(f"/api/v1/runs/{rid}").json() for rid in experiment["run_ids"]]


def assert_nothing_written(app):
    assert [count_rows(app, m) for m in (Project, Experiment, ExperimentTag, Run, RunTag)] \
        == [0, 0, 0, 0, 0]


# -- creating ------------------------------------------------------------------------------

def test_four_optimizers_times_three_seeds_gives_twelve_queued_runs(client):
    created = submit(client)
    assert created["status_counts"] == {"queued": 12}
    assert len(created["run_ids"]) == len(set(created["run_ids"])) == 12
    assert created["tags"] == ["ch6"] and created["project"] == "default"
    runs = runs_of(client, created)
    assert {r["status"] for r in runs} == {"queued"}
    assert {r["experiment_id"] for r in runs} == {created["id"]}
    assert not any(r["external"] for r in runs)
    assert all(r["tags"] == ["ch6"] for r in runs)
    configs = [json.dumps(r["config"], sort_keys=True) for r in runs]
    assert len(set(configs)) == 12
    got = sorted((r["config"]["optimizer"]["name"], r["config"]["optimizer"]["lr"],
                  r["config"]["training"]["seed"]) for r in runs)
    want = sorted((o["name"], o["lr"], s) for o, s in itertools.product(FOUR_OPTIMIZERS, [0, 1, 2]))
    assert got == want
    # configs are fully resolved (defaults filled in from the catalog and the dataset)
    cfg = runs[0]["config"]
    assert cfg["model"]["input_dim"] == 2 and cfg["model"]["output_dim"] == 3
    assert cfg["model"]["hidden"] == [16, 16] and cfg["training"]["epochs"] == 2
    assert count_rows(client.app, Run) == 12
    detail = client.get(f"{API}/{created['id']}").json()
    assert detail["status_counts"] == {"queued": 12}
    assert sorted(detail["run_ids"]) == sorted(created["run_ids"])


def test_list_of_lists_is_an_axis_but_a_plain_list_is_one_value(client):
    grid = submit(client, model={"kind": "mlp", "hidden": [[8], [16, 16]]},
                  optimizer={"name": "adam"}, training={"epochs": 1})
    assert sorted(r["config"]["model"]["hidden"] for r in runs_of(client, grid)) \
        == [[8], [16, 16]]
    single = submit(client, model={"kind": "mlp", "hidden": [8, 16]},
                    optimizer={"name": "adam"}, training={"epochs": 1})
    assert [r["config"]["model"]["hidden"] for r in runs_of(client, single)] == [[8, 16]]


def test_list_fields_are_grid_axes_across_sections(client):
    created = submit(client, optimizer={"name": "sgd", "lr": [0.1, 0.01], "momentum": [0.0, 0.9]},
                     training={"epochs": 1, "batch_size": [32, 64, 128]})
    runs = runs_of(client, created)
    got = sorted((r["config"]["optimizer"]["lr"], r["config"]["optimizer"]["momentum"],
                  r["config"]["training"]["batch_size"]) for r in runs)
    assert got == sorted(itertools.product([0.1, 0.01], [0.0, 0.9], [32, 64, 128]))


SEARCH = {"method": "random", "trials": 4, "seed": 7,
          "space": {"optimizer.lr": {"log_uniform": [1e-4, 1e-1]},
                    "training.batch_size": {"choice": [32, 64]},
                    "optimizer.weight_decay": {"uniform": [0.0, 0.1]}}}


def _search_configs(client, search):
    created = submit(client, optimizer={"name": "adamw"}, search=search,
                     training={"epochs": 1, "seed": [0, 1]})
    runs = sorted(runs_of(client, created), key=lambda r: r["name"])
    return created, [r["config"] for r in runs]


def test_random_search_is_reproducible_from_its_seed_and_counts_trials_times_grid(client):
    created, first = _search_configs(client, SEARCH)
    assert len(created["run_ids"]) == 4 * 2  # trials x grid (2 seeds)
    _, second = _search_configs(client, SEARCH)
    assert first == second
    for config in first:
        assert 1e-4 <= config["optimizer"]["lr"] <= 1e-1
        assert 0.0 <= config["optimizer"]["weight_decay"] <= 0.1
        assert config["training"]["batch_size"] in (32, 64)
    # each trial is paired with every grid point
    trials = {(c["optimizer"]["lr"], c["optimizer"]["weight_decay"], c["training"]["batch_size"])
              for c in first}
    assert len(trials) == 4
    assert sorted(c["training"]["seed"] for c in first) == [0, 0, 0, 0, 1, 1, 1, 1]
    _, other = _search_configs(client, {**SEARCH, "seed": 8})
    assert other != first


def test_run_cap_rejects_with_the_field_and_writes_nothing(make_client):
    client = make_client(max_runs_per_experiment=5)
    error = assert_error(client.post(API, json=experiment_request()), 422, "invalid_input")
    assert error["details"][0]["loc"] == "optimizer"
    assert "5" in error["details"][0]["msg"]
    error = assert_error(client.post(API, json=experiment_request(
        optimizer={"name": "adam"}, training={"epochs": 1, "seed": [0, 1]},
        search={**SEARCH, "trials": 3})), 422, "invalid_input")
    assert error["details"][0]["loc"] == "search.trials"
    assert_nothing_written(client.app)
    # at the cap exactly is fine
    ok = client.post(API, json=experiment_request(
        optimizer={"name": "adam"}, training={"epochs": 1, "seed": [0, 1, 2, 3, 4]}))
    assert ok.status_code == 201, ok.text
    assert count_rows(client.app, Run) == 5


def test_a_huge_grid_inside_one_section_is_refused_without_enumerating_it(make_client):
    """8 values in each of 5 fields of one optimizer is 32,768 combinations (and 40 values in
    each is 10^8, a memory exhaustion): the cap must be checked before the product is built."""
    client = make_client(max_runs_per_experiment=100)
    optimizer = {"name": "sgd", **{k: [0.1 * i for i in range(1, 9)]
                                   for k in ("lr", "momentum", "dampening", "weight_decay")},
                 "maximize": [False] * 8}
    body = experiment_request(optimizer=optimizer, training={"epochs": 1})
    client.post(API, json=body)  # once before measuring: imports and caches
    tracemalloc.start()
    try:
        response = client.post(API, json=body)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    error = assert_error(response, 422, "invalid_input")
    assert error["details"][0]["loc"] == "optimizer"
    # memory, not time (a busy machine moves time): the 32,768 bare combinations alone, as
    # dicts of their five values, take 6.3 MB
    assert peak < 2_000_000, f"rejecting peaked at {peak / 1e6:.1f} MB: the grid was enumerated"
    assert_nothing_written(client.app)


def test_invalid_optimizer_in_a_list_names_its_index_and_writes_nothing(client):
    optimizers = [*FOUR_OPTIMIZERS[:2], {"name": "adagrad", "lr": -1}, FOUR_OPTIMIZERS[3]]
    error = assert_error(client.post(API, json=experiment_request(optimizer=optimizers)), 422,
                         "invalid_input")
    assert error["details"][0]["loc"] == "optimizer[2].lr"
    assert "optimizer[2].lr" in error["message"]
    assert_nothing_written(client.app)


@pytest.mark.parametrize("overrides, loc", [
    ({"dataset": {"name": "no-such-dataset"}}, "dataset.name"),
    ({"model": {"kind": "mlp", "hidden": [16, 0]}}, "model.hidden[1]"),
    ({"model": {"kind": "mlp", "hidden": 0}}, "model.hidden"),
    ({"model": {"kind": "transformer"}}, "model.kind"),
    ({"training": {"epochs": 1, "batch_size": 10**6}}, "training.batch_size"),
    ({"training": {"epochs": 0}}, "training.epochs"),
    ({"optimizer": {"name": "adam", "betas": [0.9, 1.5]}}, "optimizer.betas[1]"),
    ({"optimizer": {"name": "lion"}}, "optimizer.name"),
    ({"optimizer": [{"name": "sgd", "lr": [0.1, -0.1]}]}, "optimizer[0].lr"),
    ({"optimizer": []}, "optimizer"),
    ({"optimizer": {"name": "sgd", "lr": []}}, "optimizer.lr"),
    ({"search": {"method": "grid", "trials": 2, "space": {}}}, "search.method"),
    ({"search": {"trials": 0, "space": {"optimizer.lr": {"uniform": [0, 1]}}}}, "search.trials"),
    ({"search": {"trials": 2, "space": {"optimizer.lr": {"normal": [0, 1]}}}},
     "search.space.optimizer.lr"),
    ({"search": {"trials": 2, "space": {"optimizer.lr": {"log_uniform": [0, 1]}}}},
     "search.space.optimizer.lr.log_uniform"),
    ({"search": {"trials": 2, "space": {"nowhere.lr": {"uniform": [0, 1]}}}},
     "search.space.nowhere.lr"),
])
def test_invalid_requests_name_the_field(shared_client, overrides, loc):
    before = all_counts(shared_client.app)
    error = assert_error(shared_client.post(API, json=experiment_request(**overrides)), 422,
                         "invalid_input")
    assert error["details"][0]["loc"] == loc, error
    assert all_counts(shared_client.app) == before


@pytest.mark.parametrize("body, loc", [
    ({"name": "x", "dataset": {"name": "spiral"}}, "optimizer"),
    ({"name": "", "optimizer": {"name": "sgd"}}, "name"),
    ({"name": "x", "project": "has space", "optimizer": {"name": "sgd"}}, "project"),
    ({"name": "x", "optimizer": {"name": "sgd"}, "colour": "blue"}, "colour"),
    ({"name": "x", "optimizer": {"name": "sgd"}, "tags": ["a" * 101]}, "tags[0]"),
])
def test_schema_errors_name_the_field(shared_client, body, loc):
    error = assert_error(shared_client.post(API, json=body), 422, "invalid_input")
    assert loc in [d["loc"] for d in error["details"]], error


# -- listing -------------------------------------------------------------------------------

def _small(client, name, project="default", tags=()):
    return submit(client, name=name, project=project, tags=list(tags),
                  optimizer={"name": "sgd"}, training={"epochs": 1})


def test_list_is_newest_first_and_filters_by_project_tag_and_name(client):
    a = _small(client, "alpha sweep", "vision", ["baseline"])
    b = _small(client, "beta sweep", "vision", ["tuned"])
    c = _small(client, "gamma", "nlp", ["baseline", "tuned"])
    d = _small(client, "100% _wild_ name", "nlp")

    def ids(**params):
        response = client.get(API, params=params)
        assert response.status_code == 200, response.text
        return [e["id"] for e in response.json()["experiments"]]

    assert ids() == [d["id"], c["id"], b["id"], a["id"]]
    assert ids(project="vision") == [b["id"], a["id"]]
    assert ids(project="nlp") == [d["id"], c["id"]]
    assert ids(project="nobody") == []
    assert ids(tag="baseline") == [c["id"], a["id"]]
    assert ids(tag="tuned", project="vision") == [b["id"]]
    assert ids(q="sweep") == [b["id"], a["id"]]
    assert ids(q="SWEEP") in ([], [b["id"], a["id"]])  # case rules may differ, never an error
    assert ids(q="%") == [d["id"]]  # LIKE wildcards are literal
    assert ids(q="_wild_") == [d["id"]]
    listed = client.get(API, params={"project": "vision"}).json()["experiments"][0]
    assert listed["project"] == "vision" and listed["tags"] == ["tuned"]
    assert listed["status_counts"] == {"queued": 1}


def test_pagination_walks_every_experiment_once_in_order(client):
    made = [_small(client, f"exp {i}")["id"] for i in range(7)]
    seen, token, pages = [], None, 0
    while True:
        params = {"limit": 3, **({"page_token": token} if token else {})}
        page = client.get(API, params=params).json()
        seen += [e["id"] for e in page["experiments"]]
        pages += 1
        token = page["next_page_token"]
        if token is None:
            break
    assert seen == made[::-1]
    assert pages == 3
    assert_error(client.get(API, params={"page_token": "not-a-token"}), 422, "invalid_input")
    assert_error(client.get(API, params={"limit": 0}), 422, "invalid_input")
    assert_error(client.get(API, params={"limit": 10**6}), 422, "invalid_input")


def test_created_at_is_utc_and_the_same_on_every_read(client):
    created = _small(client, "when")
    listed = client.get(API).json()["experiments"][0]
    detail = client.get(f"{API}/{created['id']}").json()
    times = [datetime.fromisoformat(x["created_at"].replace("Z", "+00:00"))
             for x in (created, listed, detail)]
    assert all(t.utcoffset() is not None and t.utcoffset().total_seconds() == 0 for t in times), \
        [x["created_at"] for x in (created, listed, detail)]
    assert times[0] == times[1] == times[2]


# -- detail: status counts and summary -----------------------------------------------------

def log(client, run_id, points):
    response = client.post(f"/api/v1/runs/{run_id}/metrics", json={"metrics": points})
    assert response.status_code == 200, response.text


def test_detail_summarises_mean_and_std_over_seeds(client):
    created = submit(client, optimizer=FOUR_OPTIMIZERS[:2])  # 2 optimizers x 3 seeds
    runs = runs_of(client, created)
    set_status(client.app, created["run_ids"], "running")
    accuracy, loss = {}, {}
    for i, run in enumerate(sorted(runs, key=lambda r: r["name"])):
        accuracy[run["id"]] = 0.5 + 0.07 * i + 0.01 * (i % 3) ** 2
        loss[run["id"]] = 1.0 / (i + 1)
        log(client, run["id"], [
            {"key": "val_accuracy", "step": 1, "value": 0.1},
            {"key": "val_accuracy", "step": 10, "value": accuracy[run["id"]]},
            {"key": "val_loss", "step": 10, "value": loss[run["id"]]},
            {"key": "step_time", "step": 10, "value": 0.01 * (i + 1)},
        ])
    by_optimizer = {}
    for run in runs:
        by_optimizer.setdefault(run["config"]["optimizer"]["name"], []).append(run["id"])
    set_status(client.app, by_optimizer["sgd"], "succeeded")
    detail = client.get(f"{API}/{created['id']}").json()
    assert detail["status_counts"] == {"succeeded": 3, "running": 3}
    assert detail["request"]["optimizer"] == FOUR_OPTIMIZERS[:2]
    assert len(detail["summary"]) == 2
    for row in detail["summary"]:
        name = row["config"]["optimizer"]["name"]
        members = by_optimizer[name]
        assert row["runs"] == 3
        assert "seed" not in row["config"]["training"]
        assert set(row["metrics"]) == {"val_accuracy", "val_loss"}  # timing left out
        acc = [accuracy[r] for r in members]
        assert row["metrics"]["val_accuracy"]["n"] == 3
        assert row["metrics"]["val_accuracy"]["mean"] == pytest.approx(statistics.fmean(acc),
                                                                       rel=1e-12)
        assert row["metrics"]["val_accuracy"]["std"] == pytest.approx(statistics.stdev(acc),
                                                                      rel=1e-12)
        losses = [loss[r] for r in members]
        assert row["metrics"]["val_loss"]["mean"] == pytest.approx(statistics.fmean(losses))
        assert row["metrics"]["val_loss"]["std"] == pytest.approx(statistics.stdev(losses))
        assert row["best_by"] == "val_accuracy"
        assert row["best_run_id"] == max(members, key=accuracy.get)


def test_summary_leaves_non_finite_values_out_of_mean_and_std(client):
    created = submit(client, optimizer={"name": "sgd"})  # 1 config x 3 seeds
    set_status(client.app, created["run_ids"], "running")
    for rid, value in zip(created["run_ids"], [0.25, "NaN", 0.75]):
        log(client, rid, [{"key": "val_loss", "step": 5, "value": value}])
    [row] = client.get(f"{API}/{created['id']}").json()["summary"]
    assert row["metrics"]["val_loss"] == {"mean": 0.5, "std": pytest.approx(
        statistics.stdev([0.25, 0.75])), "n": 2}
    assert row["best_by"] == "val_loss" and row["best_run_id"] == created["run_ids"][0]


def test_summary_of_a_fresh_experiment_has_no_metrics(client):
    created = submit(client)
    detail = client.get(f"{API}/{created['id']}").json()
    assert len(detail["summary"]) == 4
    assert all(row["runs"] == 3 and row["metrics"] == {} and row["best_run_id"] is None
               for row in detail["summary"])


# -- export --------------------------------------------------------------------------------

def _exported_experiment(client):
    created = submit(client)
    set_status(client.app, created["run_ids"], "running")
    values = {}
    for i, rid in enumerate(created["run_ids"][:8]):
        values[rid] = 0.5 + i / 100
        log(client, rid, [{"key": "val_accuracy", "step": 3, "value": values[rid]},
                          {"key": "train_loss", "step": 3, "value": "Infinity" if i == 0 else 1}])
    return created, values


def test_export_csv_has_one_row_per_run_with_config_and_metric_columns(client):
    created, values = _exported_experiment(client)
    response = client.get(f"{API}/{created['id']}/export", params={"format": "csv"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert f"experiment-{created['id']}.csv" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert sorted(r["run_id"] for r in rows) == sorted(created["run_ids"])
    for column in ("name", "status", "created_at", "config.optimizer.name", "config.optimizer.lr",
                   "config.training.seed", "config.model.hidden", "config.dataset.name",
                   "metrics.val_accuracy", "metrics.train_loss"):
        assert column in rows[0], column
    runs = {r["id"]: r for r in runs_of(client, created)}
    for row in rows:
        run = runs[row["run_id"]]
        assert row["status"] == "running"
        assert row["config.optimizer.name"] == run["config"]["optimizer"]["name"]
        assert float(row["config.optimizer.lr"]) == run["config"]["optimizer"]["lr"]
        assert int(row["config.training.seed"]) == run["config"]["training"]["seed"]
        assert json.loads(row["config.model.hidden"]) == [16, 16]
        if row["run_id"] in values:
            assert float(row["metrics.val_accuracy"]) == values[row["run_id"]]
        else:
            assert row["metrics.val_accuracy"] == ""
    assert "Infinity" in [r["metrics.train_loss"] for r in rows]


def test_export_json_has_one_object_per_run(client):
    created, values = _exported_experiment(client)
    response = client.get(f"{API}/{created['id']}/export", params={"format": "json"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    rows = response.json()
    assert sorted(r["run_id"] for r in rows) == sorted(created["run_ids"])
    runs = {r["id"]: r for r in runs_of(client, created)}
    for row in rows:
        run = runs[row["run_id"]]
        assert row["config.optimizer.name"] == run["config"]["optimizer"]["name"]
        assert row["config.optimizer.lr"] == run["config"]["optimizer"]["lr"]
        assert json.loads(row["config.model.hidden"]) == [16, 16]
        assert row.get("metrics.val_accuracy") == values.get(row["run_id"])
    assert sorted((r.get("metrics.train_loss") for r in rows if r["run_id"] in values), key=str) \
        == sorted([1.0] * 7 + ["Infinity"], key=str)
    assert_error(client.get(f"{API}/{created['id']}/export", params={"format": "xml"}), 422)


def test_export_of_an_experiment_with_many_runs_streams_all_of_them(client):
    created = submit(client, optimizer={"name": "sgd", "lr": [0.001 * i for i in range(1, 61)]},
                     training={"epochs": 1, "seed": list(range(10))})  # 600 runs > one batch
    rows = list(csv.DictReader(io.StringIO(
        client.get(f"{API}/{created['id']}/export").text)))
    assert len(rows) == 600 and len({r["run_id"] for r in rows}) == 600


# -- unknown ids ---------------------------------------------------------------------------

@pytest.mark.parametrize("path", [f"{API}/0123456789abcdef0123456789abcdef",
                                  f"{API}/nope/export", f"{API}/nope/export?format=json"],
                         ids=["detail", "csv", "json"])
def test_unknown_experiments_are_404_with_the_error_shape(shared_client, path):
    error = assert_error(shared_client.get(path), 404, "not_found")
    assert "not found" in error["message"]


def test_unknown_route_and_method_use_the_error_shape(shared_client):
    assert_error(shared_client.get("/api/v1/nothing-here"), 404, "not_found")
    assert_error(shared_client.delete(API), 405, "method_not_allowed")


def test_nan_in_summary_is_reported_as_string(client):
    created = submit(client, optimizer={"name": "sgd"})
    set_status(client.app, created["run_ids"], "running")
    for rid in created["run_ids"]:
        log(client, rid, [{"key": "val_loss", "step": 1, "value": "NaN"}])
    [row] = client.get(f"{API}/{created['id']}").json()["summary"]
    assert row["metrics"]["val_loss"] == {"mean": "NaN", "std": "NaN", "n": 0}
    assert row["best_run_id"] is None and math.isnan(float(row["metrics"]["val_loss"]["mean"]))
