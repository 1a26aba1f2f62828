"""Datasets pushed to the server, through the API on both engines: stored once by name and by
content, checked on upload (422 naming the problem, 413 beyond the limit), runs validated from
the stored facts alone and pinned to the content's sha256, deletion refused while a queued or
running run uses the dataset, another project's datasets answering like missing ones."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest

from .conftest import assert_error
from .teams import bearer, mint, ok, populate, same_as_missing

DATASETS = "/api/v1/datasets"
RNG = np.random.default_rng(0)


def npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


POINTS = npz(x=RNG.standard_normal((60, 3)), y=RNG.integers(0, 3, 60))
# the label is the first column, not the default last one: runs must learn it from the record
TABLE = ("y,a,b\n" + "".join(f"{i % 2},{i},{i % 5}\n" for i in range(40))).encode()


def push(client, data: bytes, name: str, project: str = "default", headers=None, **params):
    return client.post(DATASETS, params={"project": project, "name": name, **params},
                       content=data, headers={"content-type": "application/octet-stream",
                                              **(headers or {})})


def experiment(dataset, project: str = "default", **extra) -> dict:
    return {"name": "on a pushed file", "project": project, "dataset": dataset,
            "model": {"kind": "mlp", "hidden": [8]},
            "optimizer": [{"name": "sgd", "lr": 0.1}, {"name": "adam", "lr": 0.01}],
            "training": {"epochs": 2, "batch_size": 16}, **extra}


def blobs(client) -> list[str]:
    found = client.app.state.settings.data_dir / "dataset-blobs"
    return sorted(p.name for p in found.iterdir()) if found.exists() else []


def test_a_file_is_stored_once_by_name_and_by_content(client):
    sha = hashlib.sha256(POINTS).hexdigest()
    first = ok(push(client, POINTS, "points.npz"), 201)
    assert {k: v for k, v in first.items() if k not in ("created_at", "created_by")} == {
        "project": "default", "name": "points.npz", "sha256": sha,
        "ref": f"points.npz@{sha}", "format": "npz", "bytes": len(POINTS), "rows": 60,
        "features": 3, "classes": 3, "label": None, "created": True}
    assert ok(push(client, POINTS, "points.npz"), 200) == {**first, "created": False}
    other = npz(x=np.zeros((5, 2)), y=np.arange(5) % 2)
    assert "holds other content" in assert_error(push(client, other, "points.npz"),
                                                 409, "conflict")["message"]
    assert "already dataset 'points.npz'" in assert_error(push(client, POINTS, "copy"),
                                                          409)["message"]
    record = {k: v for k, v in first.items() if k != "created"}
    for ref in ("points.npz", sha, f"points.npz@{sha}"):
        assert ok(client.get(f"{DATASETS}/default/{ref}")) == record
    content = client.get(f"{DATASETS}/default/{sha}/content")
    assert content.status_code == 200 and content.content == POINTS
    assert content.headers["x-optrack-sha256"] == sha
    assert ok(client.get(DATASETS, params={"project": "default"})) == {
        "datasets": [record], "next_page_token": None}
    assert blobs(client) == [sha]
    pushes = ok(client.get("/api/v1/audit", params={"action": "dataset.push"}))["entries"]
    assert [(e["target"], e["detail"]) for e in pushes] == [
        ("points.npz", {"sha256": sha, "bytes": len(POINTS)})]


@pytest.mark.parametrize("data,params,loc,message", [
    (npz(x=np.array([{"a": 1}], dtype=object), y=np.zeros(1)), {}, "body",
     "the file is not a readable .npz file: Object arrays cannot be loaded when "
     "allow_pickle=False"),
    (b"\x80\x04\x95" + bytes(range(128, 256)), {}, "body",
     "the file is neither an .npz archive nor CSV text (UTF-8)"),
    (b"PK\x03\x04garbage, not a zip archive", {}, "body", "the file is not a readable .npz"),
    (b"a,b\n1,2\n3,4\n", {"label": "y"}, "label", "label: no column 'y' in the header"),
    (npz(x=np.ones((4, 2)), y=np.array([0, 1, np.nan, 1])), {}, "body",
     "the file: targets hold NaN or infinite values"),
    (POINTS, {"label": "y"}, "label", "label: an .npz dataset has no label column"),
    (POINTS, {"name": "ab" * 32}, "name", "name: must not look like a sha256"),
])
def test_a_file_that_is_no_dataset_is_refused_with_422_naming_the_problem(
        shared_client, data, params, loc, message):
    before = ok(shared_client.get(DATASETS)), blobs(shared_client)
    params = {"name": "bad.npz", **params}
    error = assert_error(push(shared_client, data, **params), 422, "invalid_input")
    assert error["details"][0]["loc"] == loc
    assert error["message"].startswith(message.replace("the file: ", "the file ")), error
    assert (ok(shared_client.get(DATASETS)), blobs(shared_client)) == before


def test_a_form_upload_and_a_file_over_the_limit_are_refused(make_client):
    client = make_client(max_dataset_bytes=2048)
    small = npz(x=np.zeros((4, 2)), y=np.arange(4) % 2)
    form = client.post(DATASETS, params={"project": "default", "name": "p.npz"},
                       files={"file": ("p.npz", small)})
    assert assert_error(form, 422)["details"][0]["loc"] == "content-type"
    big = npz(x=np.zeros((200, 3)), y=np.arange(200) % 2)
    assert "over 2048 bytes" in assert_error(push(client, big, "big.npz"), 413,
                                             "too_large")["message"]
    assert ok(client.get(DATASETS))["datasets"] == [] and blobs(client) == []


def test_runs_are_validated_from_the_stored_facts_and_pinned_to_the_content(client):
    pushed = ok(push(client, TABLE, "table.csv", label="y"), 201)
    assert (pushed["rows"], pushed["features"], pushed["classes"]) == (40, 2, 2)
    for blob in (client.app.state.settings.data_dir / "dataset-blobs").iterdir():
        blob.unlink()  # validation never opens the file
    made = ok(client.post("/api/v1/experiments", json=experiment(
        {"name": "file", "dataset": "table.csv"})), 201)
    pinned = {"name": "file", "dataset": pushed["ref"], "label": "y", "seed": 0}
    for run_id in made["run_ids"]:
        config = ok(client.get(f"/api/v1/runs/{run_id}"))["config"]
        assert config["dataset"] == pinned
        assert (config["model"]["input_dim"], config["model"]["output_dim"]) == (2, 2)
        assert ok(client.get(f"/api/v1/runs/{run_id}"))["total_steps"] == 2 * 2  # 32 / 16
    stored = ok(client.get(f"/api/v1/experiments/{made['id']}"))["request"]
    assert stored["dataset"] == {"name": "file", "dataset": pushed["ref"]}
    by_sha = ok(client.post("/api/v1/experiments", json=experiment(
        {"name": "file", "dataset": pushed["sha256"], "seed": [1, 2]})), 201)
    assert len(by_sha["run_ids"]) == 4


@pytest.mark.parametrize("dataset,training,loc,message", [
    ({"dataset": "nope"}, {}, "dataset.dataset", "no dataset 'nope' in project 'default'"),
    ({"dataset": "table.csv", "label": "a"}, {}, "dataset.label",
     "dataset 'table.csv' was pushed with the label column 'y'"),
    ({"dataset": "table.csv", "path": "table.csv"}, {}, "dataset.path", "give exactly one of"),
    ({"dataset": "table.csv"}, {"batch_size": 33}, "training.batch_size",
     "must be <= 32 (the training set size)"),
    ({"dataset": "table.csv", "val_fraction": 0.99}, {}, "dataset.val_fraction",
     "leaves no training examples out of 40"),
    ({"dataset": "table.csv@" + "0" * 64}, {}, "dataset.dataset", "no dataset"),
])
def test_a_run_on_a_pushed_file_is_refused_naming_the_field(shared_client, dataset, training,
                                                            loc, message):
    push(shared_client, TABLE, "table.csv", label="y")  # 201 the first time, then 200
    body = experiment({"name": "file", **dataset})
    body["training"].update(training)
    error = assert_error(shared_client.post("/api/v1/experiments", json=body), 422,
                         "invalid_input")
    assert error["details"][0]["loc"] == loc and message in error["details"][0]["msg"], error


def test_an_ask_and_tell_searchs_trials_are_pinned_too(client):
    pushed = ok(push(client, POINTS, "points.npz"), 201)
    body = experiment({"name": "file", "dataset": "points.npz"},
                      optimizer={"name": "adam"},
                      search={"method": "random", "trials": 2, "seed": 0, "external": True,
                              "objective": {"metric": "val_loss"},
                              "space": {"optimizer.lr": {"log_uniform": [1e-3, 1e-1]}}})
    made = ok(client.post("/api/v1/experiments", json=body), 201)
    trial = ok(client.post(f"/api/v1/experiments/{made['id']}/trials"), 201)
    assert trial["config"]["dataset"] == {"name": "file", "dataset": pushed["ref"], "seed": 0}


def test_deletion_is_refused_while_a_queued_or_running_run_uses_the_dataset(client):
    pushed = ok(push(client, POINTS, "points.npz"), 201)
    run_ids = ok(client.post("/api/v1/experiments", json=experiment(
        {"name": "file", "dataset": "points.npz"})), 201)["run_ids"]
    refused = assert_error(client.delete(f"{DATASETS}/default/points.npz"), 409, "conflict")
    assert sorted(refused["details"][0]["runs"]) == sorted(run_ids)
    ok(client.post(f"/api/v1/runs/{run_ids[0]}/cancel"))
    assert_error(client.delete(f"{DATASETS}/default/{pushed['sha256']}"), 409)
    ok(client.post(f"/api/v1/runs/{run_ids[1]}/cancel"))
    assert client.delete(f"{DATASETS}/default/{pushed['ref']}").status_code == 204
    assert_error(client.get(f"{DATASETS}/default/points.npz"), 404, "not_found")
    assert blobs(client) == []
    # the ended runs keep the pin: their content is known, whatever is pushed later
    config = ok(client.get(f"/api/v1/runs/{run_ids[0]}"))["config"]
    assert config["dataset"]["dataset"] == pushed["ref"]
    deletes = ok(client.get("/api/v1/audit", params={"action": "dataset.delete"}))["entries"]
    assert [(e["target"], e["detail"]["sha256"]) for e in deletes] == [
        ("points.npz", pushed["sha256"])]


def test_another_projects_datasets_answer_like_missing_ones(client):
    populate(client, {"alpha": {"alice": "admin"}, "beta": {"bob": "admin"}})
    alice, bob = (bearer(mint(client, n, ["read", "write", "admin"])["token"])
                  for n in ("alice", "bob"))
    pushed = ok(push(client, POINTS, "points.npz", "alpha", headers=alice), 201)
    assert ok(client.get(DATASETS, headers=bob))["datasets"] == []
    for path in ("{}", "{}/content"):
        for ref in ("points.npz", pushed["sha256"]):
            same_as_missing(lambda p: client.get(f"{DATASETS}/{p}/" + path.format(ref),
                                                 headers=bob), "alpha")
    same_as_missing(lambda p: client.delete(f"{DATASETS}/{p}/points.npz", headers=bob),
                    "alpha")
    same_as_missing(lambda p: push(client, POINTS, "mine.npz", p, headers=bob), "alpha")
    # beta's runs cannot name alpha's file, by name or by content
    for ref in ("points.npz", pushed["sha256"], pushed["ref"]):
        error = assert_error(client.post("/api/v1/experiments", headers=bob, json=experiment(
            {"name": "file", "dataset": ref}, project="beta")), 422)
        assert error["details"][0]["loc"] == "dataset.dataset"
    # the same content is beta's own dataset once pushed there
    ok(push(client, POINTS, "points.npz", "beta", headers=bob), 201)
    assert sorted(d["project"] for d in ok(client.get(DATASETS))["datasets"]) == ["alpha", "beta"]
