"""The MLflow-compatible API refuses in MLflow's shape, with the status codes MLflow's client
expects, and a refused request stores nothing: MLflow's own client against the server as a
process, on SQLite and PostgreSQL, and raw requests that are each wrong in one way."""

from __future__ import annotations

import json
import uuid

import httpx
import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

from .conftest import assert_mlflow_error
from .mlflow_client import MLFLOW, T0, fails, server  # noqa: F401
from .teams import bearer, mint


def test_errors_answer_in_mlflow_shape_with_mlflow_status_codes(server, monkeypatch):
    api, bare = server.api, httpx.Client(base_url=server.url)
    missing = uuid.uuid4().hex
    assert_mlflow_error(api.get(f"{MLFLOW}/runs/get", params={"run_id": missing}), 404,
                        "RESOURCE_DOES_NOT_EXIST")
    assert_mlflow_error(api.post(f"{MLFLOW}/runs/log-metric", json={"run_id": missing}), 400,
                        "INVALID_PARAMETER_VALUE")
    assert_mlflow_error(api.post(f"{MLFLOW}/runs/create", content=b"{nope"), 400,
                        "INVALID_PARAMETER_VALUE")
    assert_mlflow_error(api.post(f"{MLFLOW}/runs/teleport", json={}), 404, "ENDPOINT_NOT_FOUND")
    assert_mlflow_error(bare.post(f"{MLFLOW}/runs/search", json={}), 401, "UNAUTHENTICATED")
    basic = bare.get(f"{MLFLOW}/experiments/get", params={"experiment_id": "0"},
                     auth=("admin", "password"))
    assert "MLFLOW_TRACKING_TOKEN" in assert_mlflow_error(basic, 401, "UNAUTHENTICATED")
    reader = bearer(mint(api, None, ["read"])["token"])
    assert bare.post(f"{MLFLOW}/runs/search", json={"experiment_ids": ["0"]},
                     headers=reader).status_code == 200
    assert_mlflow_error(bare.post(f"{MLFLOW}/runs/create", json={}, headers=reader), 403,
                        "PERMISSION_DENIED")
    for path in ("/api/2.0/mlflow-artifacts/artifacts/0/x/artifacts/model.pkl",
                 f"{MLFLOW}/artifacts/list"):
        assert "artifacts" in assert_mlflow_error(api.get(path), 501, "NOT_IMPLEMENTED")
    with mlflow.start_run():
        with pytest.raises(Exception, match="does not store artifacts"):
            mlflow.log_text("hello", "notes.txt")
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "admin")
    message = fails(lambda: MlflowClient().search_experiments(), "UNAUTHENTICATED")
    assert "MLFLOW_TRACKING_TOKEN" in message


def test_refused_writes_store_nothing(server):
    client = MlflowClient()
    run_id = client.create_run("0").info.run_id
    client.log_batch(run_id, metrics=[Metric("loss", 0.5, T0, 0)], params=[Param("lr", "0.1")])
    client.log_metric(run_id, "loss", 0.5, T0, 0)  # sent again: nothing changes
    refused = [
        lambda: client.log_batch(run_id, metrics=[Metric("loss", 0.4, T0, 1)],
                                 params=[Param("lr", "0.2")]),  # a param cannot change
        lambda: client.log_batch(run_id, metrics=[Metric("loss", 0.4, T0, 1)],
                                 params=[Param("lr.decay", "0.9")]),  # lr is a value
        lambda: client.log_batch(run_id, metrics=[Metric("loss", 0.4, T0, 1),
                                                  Metric("loss", 0.3, T0, 0)]),  # step 0 again
        lambda: client.log_batch(run_id, metrics=[Metric("loss", 0.4, T0, 1)],
                                 tags=[RunTag("bad=key", "v")]),
        lambda: client.log_metric(run_id, "val loss", 0.4, T0, 1),  # optrack's metric keys
        lambda: client.log_metric(run_id, "loss", 0.4, T0, -1),
        lambda: client.set_tag(run_id, "long", "x" * 600),
        lambda: client.search_runs(["0"], "metrics.loss > 'x'"),
        lambda: client.search_runs(["0"], "metrics.loss > 1 or params.lr = '0.1'"),
        lambda: client.search_runs(["0"], "datasets.name = 'digits'"),
        lambda: client.search_runs(["0"], "", run_view_type=3),  # ALL: deleted runs are gone
        lambda: client.search_runs(["0"], "", order_by=["tags.x"]),
        lambda: client.search_runs(["0"], "", page_token="garbage"),
    ]
    for call in refused:
        fails(call, "INVALID_PARAMETER_VALUE")
    run = client.get_run(run_id)
    assert (run.data.params, run.data.metrics) == ({"lr": "0.1"}, {"loss": 0.5})
    assert [m.step for m in client.get_metric_history(run_id, "loss")] == [0]
    client.set_terminated(run_id)
    fails(lambda: client.log_metric(run_id, "loss", 0.1, T0, 5), "INVALID_PARAMETER_VALUE")
    fails(lambda: client.create_experiment("Default"), "RESOURCE_ALREADY_EXISTS")


def run_requests(run_id: str) -> list[tuple[str, str, object]]:
    """(method, path, body or query) that are each wrong in one way: runs and their data."""
    log = f"{MLFLOW}/runs/log-batch"
    point = {"key": "m", "value": 1.0, "timestamp": 1, "step": 1}
    return [
        ("POST", f"{MLFLOW}/runs/create", {"experiment_id": ["0"]}),
        ("POST", f"{MLFLOW}/runs/create", {"experiment_id": "0", "tags": {"a": "b"}}),
        ("POST", f"{MLFLOW}/runs/create", {"experiment_id": "0", "run_name": "x" * 300}),
        ("POST", f"{MLFLOW}/runs/create", {"experiment_id": "nope"}),
        ("POST", f"{MLFLOW}/runs/create", {"experiment_id": "0",
                                           "tags": [{"key": "k", "value": "\ud800"}]}),
        ("POST", f"{MLFLOW}/runs/create", [1, 2]),
        ("POST", log, {"run_id": run_id, "metrics": [{**point, "value": "big"}]}),
        ("POST", log, {"run_id": run_id, "metrics": [{**point, "step": 2**70}]}),
        ("POST", log, {"run_id": run_id, "metrics": [{**point, "timestamp": -5}]}),
        ("POST", log, {"run_id": run_id, "metrics": [{**point, "key": "m\u0000"}]}),
        ("POST", log, {"run_id": run_id, "metrics": [{**point, "step": i} for i in range(1001)]}),
        ("POST", log, {"run_id": run_id, "params": [{"key": "a..b", "value": "1"}]}),
        ("POST", log, {"run_id": run_id, "params": [{"key": ".".join("abcdefghijk"),
                                                     "value": "1"}]}),
        ("POST", log, {"run_id": run_id, "params": [{"key": "p", "value": "x" * 7000}]}),
        ("POST", log, {"run_id": run_id, "params": [{"key": "p", "value": "a\u0000"}]}),
        ("POST", log, {"run_id": run_id, "params": [{"key": f"p{i}", "value": "1"}
                                                    for i in range(101)]}),
        ("POST", log, {"run_id": run_id, "tags": [{"key": "", "value": "1"}]}),
        ("POST", log, {"metrics": [point]}),
        ("POST", f"{MLFLOW}/runs/update", {"run_id": run_id, "status": "PAUSED"}),
        ("POST", f"{MLFLOW}/runs/update", {"run_id": run_id, "status": "SCHEDULED"}),
        ("POST", f"{MLFLOW}/runs/update", {"run_id": run_id, "run_name": ""}),
        ("GET", f"{MLFLOW}/metrics/get-history", {"run_id": run_id}),
        ("GET", f"{MLFLOW}/metrics/get-history", {"run_id": run_id, "metric_key": "m",
                                                  "page_token": "zz"}),
        ("GET", f"{MLFLOW}/metrics/get-history", {"run_id": run_id, "metric_key": "m",
                                                  "max_results": "many"}),
        ("GET", f"{MLFLOW}/runs/get", {"run_id": "a\u0000"}),
    ]


def search_requests() -> list[tuple[str, str, object]]:
    """The same for searches and experiments."""
    search = f"{MLFLOW}/runs/search"
    filters = ["metrics.a > 1e999", "params.lr > '1'", "attributes.start_time > 1e300",
               "params.x LIKE 'a\\'", "attributes.status = 'DONE'", "tags.`a=b` = 'c'",
               "'x' = params.y", "params.y = ", "metrics.a > 1 and", "params.a..b = '1'",
               "run_id IN ()", "attributes.end_time > 0",
               " and ".join(f"metrics.m{i} > 0" for i in range(11))]
    return [
        ("POST", search, {"experiment_ids": "0"}),
        ("POST", search, {"experiment_ids": ["0"], "max_results": 0}),
        *[("POST", search, {"experiment_ids": ["0"], "filter": f}) for f in filters],
        ("POST", search, {"experiment_ids": ["0"], "order_by": ["metrics.a SIDEWAYS"]}),
        ("POST", search, {"experiment_ids": ["0"], "order_by": ["metrics.a", "metrics.a"]}),
        ("POST", f"{MLFLOW}/experiments/search", {"filter": "name = 1"}),
        ("POST", f"{MLFLOW}/experiments/search", {"filter": "name LIKE 'a\\'"}),
        ("POST", f"{MLFLOW}/experiments/search", {"filter": "creation_time > 1e300"}),
        ("POST", f"{MLFLOW}/experiments/search", {"order_by": ["size"]}),
        ("POST", f"{MLFLOW}/experiments/search", {"view_type": "DELETED_ONLY"}),
        ("POST", f"{MLFLOW}/experiments/create", {"name": ""}),
        ("POST", f"{MLFLOW}/experiments/create", {"name": "x", "artifact_location": "s3://b"}),
        ("POST", f"{MLFLOW}/experiments/create", {"name": "two\nlines"}),
        ("GET", f"{MLFLOW}/experiments/get", {}),
        ("GET", f"{MLFLOW}/experiments/get-by-name", {"experiment_name": "x" * 300}),
    ]


def test_hostile_requests_are_400_or_404_in_mlflow_shape_and_change_nothing(server):
    client = MlflowClient()
    run_id = client.create_run("0", run_name="target").info.run_id
    client.log_batch(run_id, metrics=[Metric("m", 1.0, T0, 0)], params=[Param("p", "1")])
    before = (server.run(run_id), len(server.api.get("/api/v1/runs",
                                                     params={"limit": 1000}).json()["runs"]))
    deep = "[" * 100_000 + "]" * 100_000
    for method, path, body in [*run_requests(run_id), *search_requests(),
                               ("POST", f"{MLFLOW}/runs/log-batch", deep)]:
        if method == "GET":
            response = server.api.get(path, params=body)
        elif isinstance(body, str):
            response = server.api.post(path, content=body.encode(),
                                       headers={"content-type": "application/json"})
        else:
            response = server.api.post(path, content=json.dumps(body).encode(),
                                       headers={"content-type": "application/json"})
        assert response.status_code in (400, 404), (path, body, response.text[:300])
        assert_mlflow_error(response, response.status_code)
    after = (server.run(run_id), len(server.api.get("/api/v1/runs",
                                                    params={"limit": 1000}).json()["runs"]))
    assert after == before
