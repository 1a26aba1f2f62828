"""The MLflow-compatible API driven by MLflow's own client (mlflow-skinny) against the server as
a process of its own, on SQLite and PostgreSQL: runs logged with unchanged MLflow code are
optrack runs (config, tags, metrics with MLflow's timestamps), searches translate MLflow's
filters, order and page tokens, and projects stay isolated. ``mlflow.search_runs`` needs
pandas, which mlflow-skinny does not bring: searches go through ``MlflowClient().search_runs``,
the call it makes."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import httpx
import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric

from .mlflow_client import MLFLOW, T0, active_experiment, fails, server, unique  # noqa: F401
from .teams import bearer, mint, populate


def test_a_run_logged_with_the_mlflow_client_is_an_optrack_run(server):
    with mlflow.start_run(run_name="adam on digits") as active:
        mlflow.log_param("optimizer.name", "adam")
        mlflow.log_params({"optimizer.lr": 0.001, "batch_size": 128})
        for step in range(3):
            mlflow.log_metric("train_loss", 1 / (step + 1), step=step, timestamp=T0 + step)
        mlflow.log_metrics({"val_accuracy": 0.9, "val_loss": math.nan}, step=2, timestamp=T0 + 9)
        mlflow.set_tag("stage", "dev")
    run_id = active.info.run_id
    run = MlflowClient().get_run(run_id)
    assert (run.info.status, run.info.experiment_id, run.info.run_name) == (
        "FINISHED", "0", "adam on digits")
    assert run.info.end_time >= run.info.start_time
    assert run.info.artifact_uri == f"mlflow-artifacts:/0/{run_id}/artifacts"
    assert run.data.params == {"optimizer.name": "adam", "optimizer.lr": "0.001",
                               "batch_size": "128"}
    assert run.data.metrics.pop("val_loss") != run.data.metrics.get("val_loss")  # NaN
    assert run.data.metrics == {"train_loss": 1 / 3, "val_accuracy": 0.9}
    assert run.data.tags["stage"] == "dev" and run.data.tags["mlflow.runName"] == "adam on digits"
    history = MlflowClient().get_metric_history(run_id, "train_loss")
    assert [(m.step, m.value, m.timestamp) for m in history] == [
        (0, 1.0, T0), (1, 0.5, T0 + 1), (2, 1 / 3, T0 + 2)]

    mine = server.run(run_id)  # optrack's own API
    assert (mine["status"], mine["external"], mine["project"]) == ("succeeded", True, "default")
    assert mine["config"] == {"optimizer": {"name": "adam", "lr": "0.001"}, "batch_size": "128"}
    assert "stage=dev" in mine["tags"] and mine["name"] == "adam on digits"
    assert mine["metrics"] == {"train_loss": 1 / 3, "val_accuracy": 0.9, "val_loss": "NaN"}
    experiment = server.api.get(f"/api/v1/experiments/{mine['experiment_id']}").json()
    assert (experiment["name"], experiment["request"]) == ("Default", {"mlflow": True})
    assert run_id in experiment["run_ids"]
    assert MlflowClient().get_experiment("0").name == "Default"


def test_a_failing_with_block_ends_the_run_failed(server):
    with pytest.raises(ZeroDivisionError):
        with mlflow.start_run() as active:
            mlflow.log_metric("loss", 2.5)
            1 / 0
    assert MlflowClient().get_run(active.info.run_id).info.status == "FAILED"
    assert server.run(active.info.run_id)["status"] == "failed"


def test_search_runs_translates_mlflow_filters_order_and_pages(server, active_experiment):
    experiment_id = active_experiment
    for name, lr, acc, group in [("a", 0.01, 0.95, "x"), ("b", 0.01, 0.85, "y"),
                                 ("c", 0.1, 0.97, "x")]:
        with mlflow.start_run(run_name=name):
            mlflow.log_params({"lr": lr, "model.kind": "mlp"})
            mlflow.log_metric("acc", acc)
            mlflow.set_tag("group", group)
    with pytest.raises(RuntimeError), mlflow.start_run(run_name="d"):
        mlflow.log_params({"lr": 0.01})
        mlflow.log_metric("acc", 0.99)
        raise RuntimeError("diverged")
    client = MlflowClient()

    def names(filter_string="", order_by=None):
        found = client.search_runs([experiment_id], filter_string, order_by=order_by)
        return [r.info.run_name for r in found]

    found = client.search_runs([experiment_id], "metrics.acc > 0.9 and params.lr = '0.01'",
                               order_by=["metrics.acc DESC"])
    assert [(r.info.run_name, r.data.metrics["acc"], r.data.params["lr"], r.info.status)
            for r in found] == [("d", 0.99, "0.01", "FAILED"), ("a", 0.95, "0.01", "FINISHED")]
    assert names("attributes.status = 'FINISHED'", ["metrics.acc ASC"]) == ["b", "a", "c"]
    assert names("tags.group = 'x'", ["attributes.run_name"]) == ["a", "c"]
    assert names("tags.group != 'x' and params.`model.kind` LIKE 'ml%'") == ["b"]
    assert names("run_name ILIKE 'A%'") == ["a"] and names("run_name LIKE 'A%'") == []
    assert names("params.lr IS NULL") == [] and names("tags.group IS NULL") == ["d"]
    assert names("params.lr = 'NaN'") == [] and names("params.lr = '1e-2'") == []
    assert names("attributes.status IN ('FAILED', 'KILLED')") == ["d"]
    assert names("", ["params.lr DESC", "attributes.run_name"]) == ["c", "a", "b", "d"]
    assert names() == ["d", "c", "b", "a"]  # newest first
    pages, token = [], None
    while True:
        page = client.search_runs([experiment_id], max_results=1, page_token=token)
        pages += [r.info.run_name for r in page]
        token = page.token
        if token is None:
            break
    assert pages == ["d", "c", "b", "a"]


def test_like_means_the_same_on_both_engines(server):
    """% and _ are wildcards, a backslash makes the next character literal, GLOB's own
    wildcards are plain characters; LIKE minds case, ILIKE does not."""
    client = MlflowClient()
    experiment_id = client.create_experiment(unique("like"))
    for name, path in [("a*b?[c]%_", "/data/x_1"), ("A*B?[C]%_", "/data/X_1"),
                       ("axb", "/data/xy1")]:
        client.create_run(experiment_id, run_name=name, tags={"path": path})

    def names(filter_string):
        found = client.search_runs([experiment_id], filter_string, order_by=["run_name"])
        return [r.info.run_name for r in found]

    assert names("run_name LIKE 'a*b?[c]\\%\\_'") == ["a*b?[c]%_"]
    assert names("run_name LIKE 'a_b%'") == ["a*b?[c]%_", "axb"]
    assert names("run_name LIKE 'a*%'") == ["a*b?[c]%_"]
    assert names("run_name ILIKE 'a*b?[c]%'") == ["A*B?[C]%_", "a*b?[c]%_"]
    assert names("tags.path LIKE '/data/x\\_%'") == ["a*b?[c]%_"]
    assert names("tags.path ILIKE '/data/x_1'") == ["A*B?[C]%_", "a*b?[c]%_", "axb"]


def test_optrack_runs_are_found_by_their_config_and_take_no_logged_runs(server):
    created = server.api.post("/api/v1/experiments", json={
        "name": unique("queued"), "model": {"kind": "point", "function": "anisotropic"},
        "optimizer": [{"name": "sgd", "lr": 0.1}, {"name": "adam", "lr": 0.01}],
        "training": {"steps": 30}}).json()
    client = MlflowClient()
    found = client.search_runs([created["id"]],
                               "params.optimizer.name = 'sgd' and params.optimizer.lr = '0.1'")
    assert [(r.info.status, r.data.params["optimizer.lr"]) for r in found] == [
        ("SCHEDULED", "0.1")]
    assert [r.info.run_id for r in found] == [created["run_ids"][0]]
    fails(lambda: client.create_run(created["id"]), "INVALID_PARAMETER_VALUE")


def test_25000_points_through_log_batch_come_back_whole(server):
    client = MlflowClient()
    run_id = client.create_run("0").info.run_id
    batches = len(server.access_log(f"POST {MLFLOW}/runs/log-batch"))
    client.log_batch(run_id, metrics=[Metric("loss", 1 / (i + 1), T0 + i, i)
                                      for i in range(25_000)])
    # the client sends 1,000 metrics per request, MLflow's limit of a batch
    assert len(server.access_log(f"POST {MLFLOW}/runs/log-batch")) - batches == 25
    history = client.get_metric_history(run_id, "loss")
    assert [(m.step, m.value, m.timestamp) for m in history] == [
        (i, 1 / (i + 1), T0 + i) for i in range(25_000)]
    client.set_terminated(run_id)
    assert server.points(run_id, "loss") == 25_000


def test_another_projects_runs_do_not_exist(server, monkeypatch):
    project, user = unique("beta"), unique("bea")
    populate(server.api, {project: {user: "member"}})
    theirs = MlflowClient().create_run("0").info.run_id  # the superuser's: project default
    default_experiment = server.run(theirs)["experiment_id"]
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN",
                       mint(server.api, user, ["read", "write"], projects=[project])["token"])
    client = MlflowClient()
    for call in (lambda: client.get_run(theirs), lambda: client.log_metric(theirs, "m", 1.0),
                 lambda: client.log_param(theirs, "p", "1"),
                 lambda: client.set_tag(theirs, "t", "1"),
                 lambda: client.set_terminated(theirs), lambda: client.delete_run(theirs),
                 lambda: client.get_metric_history(theirs, "m"),
                 lambda: client.get_experiment(default_experiment)):
        fails(call, "RESOURCE_DOES_NOT_EXIST")
    with mlflow.start_run() as hers:  # "0" of this token is its own project's Default
        pass
    assert client.get_run(hers.info.run_id).info.experiment_id == "0"
    assert [r.info.run_id for r in client.search_runs(["0", default_experiment])] == [
        hers.info.run_id]
    assert server.run(hers.info.run_id)["project"] == project
    assert client.get_experiment_by_name("Default").experiment_id == "0"
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", server.token)
    assert MlflowClient().get_run(theirs).data.tags.keys() == {"mlflow.runName"}


def test_runs_are_renamed_and_deleted(server):
    client = MlflowClient()
    run_id = client.create_run("0", run_name="draft").info.run_id
    client.update_run(run_id, name="final")
    client.set_tag(run_id, "mlflow.note.content", "a note\nover two lines")
    run = client.get_run(run_id)
    assert (run.info.run_name, run.data.tags["mlflow.note.content"]) == (
        "final", "a note\nover two lines")
    assert server.run(run_id)["notes"] == "a note\nover two lines"
    client.delete_run(run_id)
    fails(lambda: client.get_run(run_id), "RESOURCE_DOES_NOT_EXIST")
    assert server.api.get(f"/api/v1/runs/{run_id}").status_code == 404
    assert run_id not in {r.info.run_id for r in client.search_runs(["0"], max_results=1000)}


def test_experiments_are_created_found_and_searched(server):
    client, stem = MlflowClient(), unique("exp")
    ids = [client.create_experiment(f"{stem}-{n}", tags={"team": team})
           for n, team in [(1, "vision"), (2, "speech"), (3, "vision")]]
    assert client.get_experiment(ids[0]).tags == {"team": "vision"}
    assert client.get_experiment_by_name(f"{stem}-2").experiment_id == ids[1]
    assert client.get_experiment_by_name(unique("nobody")) is None

    def names(filter_string, order_by=None, **kwargs):
        return [e.name for e in client.search_experiments(
            filter_string=filter_string, order_by=order_by, **kwargs)]

    assert names(f"name LIKE '{stem}-%' and tags.team = 'vision'", ["name DESC"]) == [
        f"{stem}-3", f"{stem}-1"]
    assert names(f"name = '{stem}-2'") == [f"{stem}-2"]
    page = client.search_experiments(filter_string=f"name LIKE '{stem}%'", max_results=2,
                                     order_by=["name"])
    rest = client.search_experiments(filter_string=f"name LIKE '{stem}%'", max_results=2,
                                     order_by=["name"], page_token=page.token)
    assert [e.name for e in [*page, *rest]] == [f"{stem}-1", f"{stem}-2", f"{stem}-3"]
    assert rest.token is None
    with mlflow.start_run(experiment_id=ids[0]) as active:  # any config: "training" a value
        mlflow.log_params({"training": "fast", "seed": 3})
    detail = server.api.get(f"/api/v1/experiments/{ids[0]}")
    assert detail.status_code == 200 and detail.json()["run_ids"] == [active.info.run_id]
    assert server.api.get(f"/api/v1/experiments/{ids[0]}/export").status_code == 200
    fails(lambda: client.search_experiments(filter_string="tags.team > 1"),
          "INVALID_PARAMETER_VALUE")


def test_racing_creations_make_one_experiment(server):
    project = unique("race")
    populate(server.api, {project: {}})
    headers = bearer(mint(server.api, None, ["read", "write"], projects=[project])["token"])
    name = unique("same")

    def post(path, body):
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
            return client.post(f"{MLFLOW}/{path}", json=body)

    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(lambda _: post("experiments/create", {"name": name}), range(8)))
        runs = list(pool.map(lambda _: post("runs/create", {"experiment_id": "0"}), range(8)))
    assert sorted(r.status_code for r in made) == [200] + [400] * 7
    assert all(r.status_code == 200 for r in runs), [r.text for r in runs]
    assert {r.json()["run"]["info"]["experiment_id"] for r in runs} == {"0"}
    found = post("experiments/search", {"filter": "name = 'Default'"}).json()["experiments"]
    assert [e["experiment_id"] for e in found] == ["0"]
