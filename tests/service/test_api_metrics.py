"""Metric ingestion (batches, idempotence, non-finite values, latest value) and history
(downsampling, multi-run query, limits) on both engines."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from service.models import LatestMetric, Metric

from .conftest import all_counts, assert_error, count_rows

RUNS = "/api/v1/runs"


def new_run(client, name="run"):
    response = client.post(RUNS, json={"name": name})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def log(client, run_id, points):
    return client.post(f"{RUNS}/{run_id}/metrics", json={"metrics": points})


def history(client, run_id, **params):
    response = client.get(f"{RUNS}/{run_id}/metrics", params=params)
    assert response.status_code == 200, response.text
    return {s["key"]: s for s in response.json()["series"]}


def stored(app, run_id, key):
    with app.state.reader() as session:
        return session.execute(select(Metric.step, Metric.value).where(
            Metric.run_id == run_id, Metric.key == key).order_by(Metric.step)).all()


def test_a_batch_of_ten_thousand_points_is_stored(client):
    rid = new_run(client)
    points = [{"key": "train_loss" if i % 2 else "lr", "step": i // 2, "value": i / 7}
              for i in range(10_000)]
    response = log(client, rid, points)
    assert response.status_code == 200, response.text
    assert response.json() == {"received": 10_000, "inserted": 10_000, "pruned": False}
    assert count_rows(client.app, Metric) == 10_000
    assert client.get(f"{RUNS}/{rid}").json()["metrics"] == {"lr": 9998 / 7, "train_loss": 9999 / 7}


def test_a_batch_over_ten_thousand_points_is_413_and_stores_nothing(client):
    rid = new_run(client)
    points = [{"key": "train_loss", "step": i, "value": 1.0} for i in range(10_001)]
    error = assert_error(log(client, rid, points), 413, "too_large")
    assert "10000" in error["message"]
    assert count_rows(client.app, Metric) == 0


def test_a_replayed_batch_inserts_nothing_and_changes_nothing(client):
    rid = new_run(client)
    points = [{"key": "val_loss", "step": s, "value": 1 / (s + 1), "time": 1000.0 + s}
              for s in range(50)]
    assert log(client, rid, points).json() == {"received": 50, "inserted": 50, "pruned": False}
    before = stored(client.app, rid, "val_loss")
    assert log(client, rid, points).json() == {"received": 50, "inserted": 0, "pruned": False}
    assert stored(client.app, rid, "val_loss") == before
    # a replay with other values keeps the first ones (one value per key and step)
    changed = [{**p, "value": 99.0} for p in points]
    assert log(client, rid, changed).json() == {"received": 50, "inserted": 0, "pruned": False}
    assert stored(client.app, rid, "val_loss") == before
    assert history(client, rid)["val_loss"]["values"] == [1 / (s + 1) for s in range(50)]
    assert client.get(f"{RUNS}/{rid}").json()["metrics"] == {"val_loss": 1 / 50}
    # partly new: only the new points count
    more = points[-5:] + [{"key": "val_loss", "step": s, "value": 0.0} for s in range(50, 55)]
    assert log(client, rid, more).json() == {"received": 10, "inserted": 5, "pruned": False}
    assert count_rows(client.app, Metric) == 55


def test_duplicates_within_one_batch_keep_the_first(client):
    rid = new_run(client)
    response = log(client, rid, [{"key": "a", "step": 1, "value": 1.0},
                                 {"key": "a", "step": 1, "value": 2.0}])
    assert response.json() == {"received": 2, "inserted": 1, "pruned": False}
    assert stored(client.app, rid, "a") == [(1, 1.0)]


def test_non_finite_values_round_trip_as_strings(client):
    rid = new_run(client)
    points = [{"key": "loss", "step": 0, "value": 1.5},
              {"key": "loss", "step": 1, "value": "NaN"},
              {"key": "loss", "step": 2, "value": "Infinity"},
              {"key": "loss", "step": 3, "value": "-Infinity"},
              {"key": "nan_last", "step": 7, "value": "NaN"},
              {"key": "inf_last", "step": 7, "value": "Infinity"},
              {"key": "ninf_last", "step": 7, "value": "-Infinity"}]
    assert log(client, rid, points).json()["inserted"] == 7
    series = history(client, rid)
    assert series["loss"]["steps"] == [0, 1, 2, 3]
    assert series["loss"]["values"] == [1.5, "NaN", "Infinity", "-Infinity"]
    assert client.get(f"{RUNS}/{rid}").json()["metrics"] == {
        "loss": "-Infinity", "nan_last": "NaN", "inf_last": "Infinity", "ninf_last": "-Infinity"}
    # the downsampled path too
    many = [{"key": "wild", "step": s, "value": ["NaN", "Infinity", "-Infinity", s][s % 4]}
            for s in range(400)]
    log(client, rid, many)
    wild = history(client, rid, keys="wild", max_points=40)["wild"]
    assert wild["downsampled"] and wild["total_points"] == 400
    assert {"Infinity", "-Infinity"} <= set(wild["values"])
    assert all(v in ("NaN", "Infinity", "-Infinity") or isinstance(v, float) for v in wild["values"])


@pytest.mark.parametrize("value", ["", "NaNa", "infinity!", "1,5", True, False, None, [1],
                                   {"v": 1}, "1e400x"])
def test_values_that_are_not_numbers_are_422(shared_client, value):
    rid = new_run(shared_client)
    before = all_counts(shared_client.app)
    error = assert_error(log(shared_client, rid, [{"key": "a", "step": 0, "value": value}]), 422,
                         "invalid_input")
    assert error["details"][0]["loc"].startswith("metrics[0].value")
    assert all_counts(shared_client.app) == before


def test_latest_value_follows_the_highest_step_whatever_the_arrival_order(client):
    rid = new_run(client)
    log(client, rid, [{"key": "loss", "step": 10, "value": 0.10},
                      {"key": "loss", "step": 5, "value": 0.50}])
    assert client.get(f"{RUNS}/{rid}").json()["metrics"] == {"loss": 0.10}
    log(client, rid, [{"key": "loss", "step": 3, "value": 0.30}])  # late, older batch
    assert client.get(f"{RUNS}/{rid}").json()["metrics"] == {"loss": 0.10}
    log(client, rid, [{"key": "loss", "step": 20, "value": 0.20},
                      {"key": "loss", "step": 15, "value": 0.15}])
    assert client.get(f"{RUNS}/{rid}").json()["metrics"] == {"loss": 0.20}
    log(client, rid, [{"key": "loss", "step": 20, "value": 9.0}])  # a replay changes nothing
    assert client.get(f"{RUNS}/{rid}").json()["metrics"] == {"loss": 0.20}
    with client.app.state.reader() as session:
        assert session.execute(select(LatestMetric.step, LatestMetric.value)).all() == [(20, 0.20)]
    assert history(client, rid)["loss"]["steps"] == [3, 5, 10, 15, 20]


@pytest.mark.parametrize("key", ["", "a b", "loss;drop", "ключ", "a" * 201, "x\x00", "emoji😀",
                                 "quote'", 'dq"'])
def test_bad_keys_are_422(shared_client, key):
    rid = new_run(shared_client)
    before = all_counts(shared_client.app)
    error = assert_error(log(shared_client, rid, [{"key": key, "step": 0, "value": 1}]), 422,
                         "invalid_input")
    assert error["details"][0]["loc"] == "metrics[0].key"
    assert all_counts(shared_client.app) == before


def test_good_keys_of_every_allowed_character_are_stored(client):
    rid = new_run(client)
    keys = ["val/acc-top.1_x", "A" * 200, "0", "-", "a/b/c"]
    assert log(client, rid, [{"key": k, "step": 0, "value": 1} for k in keys]).json()["inserted"] \
        == 5
    assert set(client.get(f"{RUNS}/{rid}").json()["metrics"]) == set(keys)


@pytest.mark.parametrize("point, loc", [
    ({"key": "a", "step": -1, "value": 1}, "metrics[0].step"),
    ({"key": "a", "step": 2**62 + 1, "value": 1}, "metrics[0].step"),
    ({"key": "a", "step": 1.5, "value": 1}, "metrics[0].step"),
    ({"key": "a", "value": 1}, "metrics[0].step"),
    ({"key": "a", "step": 1, "value": 1, "time": "NaN"}, "metrics[0].time"),
    ({"key": "a", "step": 1, "value": 1, "extra": 1}, "metrics[0].extra"),
])
def test_bad_points_are_422(shared_client, point, loc):
    rid = new_run(shared_client)
    response = log(shared_client, rid, [point])
    error = assert_error(response, 422, "invalid_input")
    assert loc in [d["loc"] for d in error["details"]], error


def test_the_largest_step_is_stored(client):
    rid = new_run(client)
    assert log(client, rid, [{"key": "a", "step": 2**62, "value": 1}]).json()["inserted"] == 1
    assert history(client, rid)["a"]["steps"] == [2**62]


def test_history_downsamples_keeping_ends_and_extremes(client):
    rid = new_run(client)
    values = [1.0 + (s % 97) / 1000 for s in range(10_000)]
    values[4321], values[6789] = 1e6, -1e6  # a spike and a dip in the middle
    log(client, rid, [{"key": "loss", "step": s, "value": v} for s, v in enumerate(values)])
    series = history(client, rid, keys="loss", max_points=1000)["loss"]
    assert series["downsampled"] is True and series["total_points"] == 10_000
    assert len(series["steps"]) == len(series["values"]) <= 1000
    assert len(series["steps"]) >= 500  # it is a downsampling, not a truncation
    assert series["steps"] == sorted(set(series["steps"]))
    assert series["steps"][0] == 0 and series["steps"][-1] == 9999
    assert 1e6 in series["values"] and -1e6 in series["values"]
    assert max(series["values"]) == max(values) and min(series["values"]) == min(values)
    for step, value in zip(series["steps"], series["values"]):
        assert values[step] == value  # real points, not averages
    default = history(client, rid)["loss"]  # default cap is 1000
    assert len(default["steps"]) <= 1000 and default["downsampled"]
    full = history(client, rid, max_points=10_000)["loss"]
    assert full["steps"] == list(range(10_000)) and full["downsampled"] is False


def test_history_with_sparse_and_huge_steps(client):
    rid = new_run(client)
    steps = [0, 1, 2, 10**6, 10**12, 2**62 - 1] + list(range(100, 200))
    log(client, rid, [{"key": "k", "step": s, "value": float(i)} for i, s in enumerate(steps)])
    series = history(client, rid, max_points=20)["k"]
    assert len(series["steps"]) <= 20
    assert series["steps"][0] == 0 and series["steps"][-1] == 2**62 - 1
    assert series["total_points"] == len(steps)


def test_history_of_selected_keys_and_of_unknown_keys(client):
    rid = new_run(client)
    log(client, rid, [{"key": k, "step": s, "value": s} for k in ("a", "b", "c") for s in range(5)])
    assert set(history(client, rid)) == {"a", "b", "c"}
    response = client.get(f"{RUNS}/{rid}/metrics", params=[("keys", "a"), ("keys", "c")])
    assert [s["key"] for s in response.json()["series"]] == ["a", "c"]
    missing = history(client, rid, keys="zzz")["zzz"]
    assert missing == {"run_id": rid, "key": "zzz", "steps": [], "values": [], "total_points": 0,
                       "downsampled": False}
    assert_error(client.get(f"{RUNS}/{rid}/metrics", params={"keys": "bad key"}), 422)
    assert_error(client.get(f"{RUNS}/{rid}/metrics", params={"max_points": 5}), 422)
    error = assert_error(client.get(f"{RUNS}/{rid}/metrics", params={"max_points": 10_001}), 422,
                         "invalid_input")
    assert error["details"][0]["loc"] == "max_points"


def test_compare_metrics_over_several_runs_and_keys(client):
    rids = [new_run(client, f"r{i}") for i in range(3)]
    for i, rid in enumerate(rids):
        log(client, rid, [{"key": k, "step": s, "value": i * 100 + s + (0.5 if k == "b" else 0)}
                          for k in ("a", "b") for s in range(30)])
    response = client.post("/api/v1/metrics/query",
                           json={"run_ids": rids, "keys": ["a", "b", "none"], "max_points": 12})
    assert response.status_code == 200, response.text
    series = response.json()["series"]
    assert [(s["run_id"], s["key"]) for s in series] == [(r, k) for r in rids
                                                         for k in ("a", "b", "none")]
    for s in series:
        i = rids.index(s["run_id"])
        if s["key"] == "none":
            assert s["total_points"] == 0 and s["steps"] == []
            continue
        assert s["total_points"] == 30 and s["downsampled"] and len(s["steps"]) <= 12
        assert s["steps"][0] == 0 and s["steps"][-1] == 29
        offset = 0.5 if s["key"] == "b" else 0
        assert s["values"] == [i * 100 + st + offset for st in s["steps"]]
    full = client.post("/api/v1/metrics/query", json={"run_ids": rids[:1], "keys": ["a"]}).json()
    assert full["series"][0]["steps"] == list(range(30))


@pytest.mark.parametrize("body, status, loc", [
    ({"run_ids": [], "keys": ["a"]}, 422, "run_ids"),
    ({"run_ids": ["x"], "keys": []}, 422, "keys"),
    ({"run_ids": ["x"], "keys": ["bad key"]}, 422, "keys[0]"),
    ({"run_ids": ["x" * 65], "keys": ["a"]}, 422, "run_ids[0]"),
    ({"run_ids": ["RUN"], "keys": ["a"], "max_points": 10_001}, 422, "max_points"),
    ({"run_ids": ["RUN"], "keys": ["a"], "max_points": 9}, 422, "max_points"),
    ({"run_ids": ["RUN", "0" * 32], "keys": ["a"]}, 404, None),
])
def test_comparing_metrics_rejects_bad_requests(shared_client, body, status, loc):
    rid = new_run(shared_client)
    body = json.loads(json.dumps(body).replace("RUN", rid))
    error = assert_error(shared_client.post("/api/v1/metrics/query", json=body), status)
    if loc:
        assert loc in [d["loc"] for d in error["details"]], error


def test_a_body_over_the_size_limit_is_413(make_client):
    client = make_client(max_body_bytes=4096)
    rid = new_run(client)
    points = [{"key": "train_loss", "step": i, "value": 0.123456789} for i in range(200)]
    assert len(json.dumps({"metrics": points})) > 4096
    assert_error(log(client, rid, points), 413, "too_large")
    # without a content-length (chunked upload) the limit holds as well
    body = json.dumps({"metrics": points}).encode()
    chunks = (body[i:i + 1000] for i in range(0, len(body), 1000))
    response = client.post(f"{RUNS}/{rid}/metrics", content=chunks,
                           headers={"content-type": "application/json"})
    assert_error(response, 413, "too_large")
    assert count_rows(client.app, Metric) == 0
    assert log(client, rid, points[:10]).status_code == 200


def test_metrics_only_go_to_running_runs(client):
    created = client.post("/api/v1/experiments", json={
        "name": "e", "dataset": {"name": "spiral"}, "model": {"kind": "logistic"},
        "optimizer": {"name": "sgd"}, "training": {"epochs": 1}}).json()
    error = assert_error(log(client, created["run_ids"][0], [{"key": "a", "step": 0, "value": 1}]),
                         409, "conflict")
    assert "queued" in error["message"]
