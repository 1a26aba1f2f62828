"""External runs and run actions: create, get, patch, cancel, finish — state rules and the error
shape on both engines."""

from __future__ import annotations

from datetime import datetime

import pytest

from service.models import Run

from .conftest import all_counts, assert_error, count_rows, set_status

RUNS = "/api/v1/runs"


def create_run(client, **fields):
    body = {"name": "laptop run", "project": "default", "config": {"optimizer": {"name": "adam",
                                                                              "lr": 1e-3}},
            "tags": ["external", "a"], "notes": "trained on my laptop", **fields}
    response = client.post(RUNS, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def aware(text):
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value.utcoffset() is not None


def test_external_run_is_created_running(client):
    run = create_run(client)
    assert len(run["id"]) == 32
    assert run["status"] == "running" and run["external"] is True
    assert run["experiment_id"] is None and run["attempt"] == 0
    assert run["name"] == "laptop run" and run["project"] == "default"
    assert run["config"] == {"optimizer": {"name": "adam", "lr": 1e-3}}
    assert run["tags"] == ["a", "external"]  # sorted, unique
    assert run["notes"] == "trained on my laptop"
    assert run["started_at"] is not None and run["finished_at"] is None
    assert run["metrics"] == {} and run["summary"] is None and run["error"] is None
    got = client.get(f"{RUNS}/{run['id']}")
    assert got.status_code == 200
    assert {k: v for k, v in got.json().items() if not k.endswith("_at")} \
        == {k: v for k, v in run.items() if not k.endswith("_at")}
    assert count_rows(client.app, Run) == 1


def test_run_timestamps_are_utc_on_every_read(client):
    run = create_run(client)
    got = client.get(f"{RUNS}/{run['id']}").json()
    assert aware(run["created_at"]) and aware(got["created_at"]), (run["created_at"],
                                                                    got["created_at"])
    assert aware(got["started_at"])


def test_external_run_with_defaults_and_duplicate_tags(client):
    run = create_run(client, name="minimal", config={}, tags=["x", "x", "y"], notes="")
    assert run["tags"] == ["x", "y"] and run["config"] == {} and run["notes"] == ""
    bare = client.post(RUNS, json={"name": "bare"})
    assert bare.status_code == 201 and bare.json()["project"] == "default"


def test_patch_changes_tags_notes_and_name(client):
    run = create_run(client)
    response = client.patch(f"{RUNS}/{run['id']}", json={"tags": ["b", "c", "b"]})
    assert response.status_code == 200, response.text
    assert response.json()["tags"] == ["b", "c"]
    assert response.json()["notes"] == run["notes"]
    response = client.patch(f"{RUNS}/{run['id']}", json={"notes": "lr too high", "name": "renamed"})
    assert response.status_code == 200
    got = client.get(f"{RUNS}/{run['id']}").json()
    assert (got["tags"], got["notes"], got["name"]) == (["b", "c"], "lr too high", "renamed")
    assert client.patch(f"{RUNS}/{run['id']}", json={"tags": []}).json()["tags"] == []
    assert client.patch(f"{RUNS}/{run['id']}", json={}).status_code == 200
    assert client.get(f"{RUNS}/{run['id']}").json()["name"] == "renamed"


@pytest.mark.parametrize("body, loc", [
    ({"status": "running"}, "status"),
    ({"tags": "not-a-list"}, "tags"),
    ({"tags": [""]}, "tags[0]"),
    ({"name": ""}, "name"),
    ({"notes": 5}, "notes"),
    ({"tags": [f"t{i}" for i in range(51)]}, "tags"),
])
def test_patch_rejects_bad_fields(shared_client, body, loc):
    run = create_run(shared_client)
    error = assert_error(shared_client.patch(f"{RUNS}/{run['id']}", json=body), 422, "invalid_input")
    assert loc in [d["loc"] for d in error["details"]], error
    assert shared_client.get(f"{RUNS}/{run['id']}").json()["tags"] == run["tags"]


def test_cancel_queued_run_then_cancel_again_is_409(client):
    created = client.post("/api/v1/experiments", json={
        "name": "e", "dataset": {"name": "spiral"}, "model": {"kind": "logistic"},
        "optimizer": {"name": "sgd"}, "training": {"epochs": 1, "seed": [0, 1]}}).json()
    first, second = created["run_ids"]
    response = client.post(f"{RUNS}/{first}/cancel")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled" and response.json()["finished_at"]
    assert client.get(f"{RUNS}/{first}").json()["status"] == "cancelled"
    assert client.get(f"{RUNS}/{second}").json()["status"] == "queued"
    assert_error(client.post(f"{RUNS}/{first}/cancel"), 409, "conflict")
    counts = client.get(f"/api/v1/experiments/{created['id']}").json()["status_counts"]
    assert counts == {"cancelled": 1, "queued": 1}


def test_cancel_running_external_run(client):
    run = create_run(client)
    assert client.post(f"{RUNS}/{run['id']}/cancel").json()["status"] == "cancelled"
    assert_error(client.post(f"{RUNS}/{run['id']}/finish", json={}), 409, "conflict")


@pytest.mark.parametrize("status", ["succeeded", "failed", "diverged", "cancelled"])
def test_finished_runs_cannot_be_cancelled(shared_client, status):
    run = create_run(shared_client)
    set_status(shared_client.app, [run["id"]], status)
    error = assert_error(shared_client.post(f"{RUNS}/{run['id']}/cancel"), 409, "conflict")
    assert status in error["message"]
    assert shared_client.get(f"{RUNS}/{run['id']}").json()["status"] == status


def test_finish_external_run_then_finish_again_is_409(client):
    run = create_run(client)
    response = client.post(f"{RUNS}/{run['id']}/finish",
                           json={"summary": {"best_val_accuracy": 0.93}})
    assert response.status_code == 200, response.text
    done = response.json()
    assert done["status"] == "succeeded" and done["finished_at"] is not None
    assert done["summary"] == {"best_val_accuracy": 0.93} and done["error"] is None
    assert client.get(f"{RUNS}/{run['id']}").json()["status"] == "succeeded"
    error = assert_error(client.post(f"{RUNS}/{run['id']}/finish", json={}), 409, "conflict")
    assert "succeeded" in error["message"]
    assert_error(client.post(f"{RUNS}/{run['id']}/cancel"), 409, "conflict")
    # metrics go to running runs only
    assert_error(client.post(f"{RUNS}/{run['id']}/metrics",
                             json={"metrics": [{"key": "a", "step": 1, "value": 1}]}), 409,
                 "conflict")


@pytest.mark.parametrize("status", ["failed", "diverged"])
def test_finish_with_failure_status_and_error(shared_client, status):
    run = create_run(shared_client)
    done = shared_client.post(f"{RUNS}/{run['id']}/finish",
                       json={"status": status, "error": "loss is nan at step 12"}).json()
    assert (done["status"], done["error"]) == (status, "loss is nan at step 12")


@pytest.mark.parametrize("body, loc", [
    ({"status": "cancelled"}, "status"),
    ({"status": "queued"}, "status"),
    ({"summary": [1, 2]}, "summary"),
    ({"extra": 1}, "extra"),
])
def test_finish_rejects_bad_bodies(shared_client, body, loc):
    run = create_run(shared_client)
    error = assert_error(shared_client.post(f"{RUNS}/{run['id']}/finish", json=body), 422,
                         "invalid_input")
    assert loc in [d["loc"] for d in error["details"]]
    assert shared_client.get(f"{RUNS}/{run['id']}").json()["status"] == "running"


def test_finishing_a_non_external_run_is_409(client):
    created = client.post("/api/v1/experiments", json={
        "name": "e", "dataset": {"name": "spiral"}, "model": {"kind": "logistic"},
        "optimizer": {"name": "sgd"}, "training": {"epochs": 1}}).json()
    [rid] = created["run_ids"]
    error = assert_error(client.post(f"{RUNS}/{rid}/finish", json={}), 409, "conflict")
    assert "external" in error["message"]
    set_status(client.app, [rid], "running")
    assert_error(client.post(f"{RUNS}/{rid}/finish", json={}), 409, "conflict")
    assert client.get(f"{RUNS}/{rid}").json()["status"] == "running"


UNKNOWN = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize("method, path, body", [
    ("GET", f"{RUNS}/{UNKNOWN}", None),
    ("PATCH", f"{RUNS}/{UNKNOWN}", {"notes": "x"}),
    ("POST", f"{RUNS}/{UNKNOWN}/cancel", None),
    ("POST", f"{RUNS}/{UNKNOWN}/finish", {}),
    ("POST", f"{RUNS}/{UNKNOWN}/metrics", {"metrics": [{"key": "a", "step": 0, "value": 1}]}),
    ("GET", f"{RUNS}/{UNKNOWN}/metrics", None),
    ("GET", f"{RUNS}/x'%20or%20'1'='1", None),
])
def test_unknown_runs_are_404_with_the_error_shape(shared_client, method, path, body):
    error = assert_error(shared_client.request(method, path, json=body), 404, "not_found")
    assert "not found" in error["message"]


@pytest.mark.parametrize("body, loc", [
    ({}, "name"),
    ({"name": "x", "config": [1]}, "config"),
    ({"name": "x", "config": {"lr": float("1e308") * 10}}, "config"),
    ({"name": "x", "project": "../etc"}, "project"),
    ({"name": "x", "tags": [1]}, "tags[0]"),
    ({"name": "x", "status": "succeeded"}, "status"),
    ({"name": "x\ny"}, "name"),
    ({"name": "x" * 201}, "name"),
    ({"name": "x", "notes": "a\x00b"}, "notes"),
])
def test_create_run_rejects_bad_fields_and_writes_nothing(shared_client, body, loc):
    before = all_counts(shared_client.app)
    if body.get("config") and isinstance(body["config"], dict):
        response = shared_client.post(RUNS, content='{"name": "x", "config": {"lr": Infinity}}',
                               headers={"content-type": "application/json"})
    else:
        response = shared_client.post(RUNS, json=body)
    error = assert_error(response, 422, "invalid_input")
    assert loc in [d["loc"] for d in error["details"]] or error["details"][0]["loc"] \
        .startswith(loc), error
    assert all_counts(shared_client.app) == before


# -- listing runs over HTTP (the query language itself is tested in test_query*.py) --------

def test_list_runs_filters_orders_and_pages_over_http(client):
    losses = [0.5, 0.1, 0.3, 0.2, 0.4]
    made = []
    for i, loss in enumerate(losses):
        run = create_run(client, name=f"run {i}", project="lr-sweep", tags=["sweep"] if i % 2 else [],
                         config={"optimizer": {"name": "adam", "lr": 10.0 ** -i}})
        made.append(run["id"])
        client.post(f"{RUNS}/{run['id']}/metrics", json={"metrics": [
            {"key": "loss", "step": 1, "value": loss}]})
    other = create_run(client, name="elsewhere", project="other")

    def ids(**params):
        response = client.get(RUNS, params=params)
        assert response.status_code == 200, response.text
        return [r["id"] for r in response.json()["runs"]], response.json()

    assert ids(project="lr-sweep")[0] == made[::-1]  # newest first
    assert other["id"] in ids()[0]
    assert ids(project="lr-sweep", filter="metrics.loss < 0.35")[0] == [made[3], made[2], made[1]]
    assert ids(project="lr-sweep", order_by="metrics.loss asc")[0] == \
        [made[i] for i in sorted(range(5), key=losses.__getitem__)]
    assert ids(project="lr-sweep", filter="tags contains 'sweep'")[0] == [made[3], made[1]]
    assert ids(project="lr-sweep", filter="lr <= 0.01 and optimizer = 'adam'")[0] == \
        made[:1:-1]
    _, body = ids(project="lr-sweep", filter="metrics.loss = 0.1")
    assert body["runs"][0]["metrics"] == {"loss": 0.1}
    seen, token = [], None
    while True:
        page, body = ids(project="lr-sweep", order_by="metrics.loss desc", limit=2,
                         **({"page_token": token} if token else {}))
        seen += page
        token = body["next_page_token"]
        if not token:
            break
    assert seen == [made[i] for i in sorted(range(5), key=losses.__getitem__, reverse=True)]
    error = assert_error(client.get(RUNS, params={"filter": "loss <"}), 422, "invalid_input")
    assert error["details"][0]["loc"] == "filter"
    assert_error(client.get(RUNS, params={"order_by": "nonsense desc desc"}), 422)
    assert_error(client.get(RUNS, params={"project": "nobody"}), 404, "not_found")
    assert_error(client.get(RUNS, params={"limit": 0}), 422)
    assert_error(client.get(RUNS, params={"page_token": "garbage"}), 422)
