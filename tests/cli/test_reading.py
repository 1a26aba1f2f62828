"""``optrack runs``, ``export``, ``metrics`` and ``status`` as processes against a real server
(both engines), on external runs logged over the API: the table and ``--json`` of a filtered,
ordered search; exports to files and stdout byte for byte the API's; a run's history of 5,000
points streamed whole (the API's history is downsampled); and every error — the API's, a bad
option, a missing file, a server that is not there — one line on stderr with exit status 1."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import time
import uuid
from types import SimpleNamespace

import pytest

import optrack
from optrack.wire import encode_value

from ..harness import free_port
from .conftest import failed, finish, start, succeeded

POINTS = 5_000


def cells(line: str) -> list[str]:
    """The cells of a row of a rich table ([] for its rules)."""
    return [cell.strip() for cell in re.split("[│┃]", line)[1:-1]]


def _points(key: str, values: list[float], first_time: float = 1.7e9) -> list[dict]:
    return [{"key": key, "step": step, "value": value, "time": first_time + step / 8}
            for step, value in enumerate(values)]


@pytest.fixture(scope="module")
def logged(srv):
    """An experiment of three finished external runs; the first with 5,000 points of
    train_loss and non-finite values of grad_norm. {"experiment_id", "runs": {name: id},
    "points": the first run's points}."""
    experiment = f"logged {uuid.uuid4().hex[:8]}"
    made = {"adam-1": ({"name": "adam", "lr": 0.001}, 0.3),
            "adam-2": ({"name": "adam", "lr": 0.01}, 0.2),
            "sgd-1": ({"name": "sgd", "lr": 0.1}, 0.5)}
    ids, points = {}, []
    with optrack.Client(srv.url, srv.token) as client:
        for name, (optimizer, val_loss) in made.items():
            run = client.create_run(name, config={"optimizer": optimizer},
                                    experiment=experiment)
            batch = [{"key": "val_loss", "step": 9, "value": val_loss, "time": 1.7e9},
                     {"key": "val_accuracy", "step": 9, "value": 1 - val_loss, "time": 1.7e9}]
            if not points:
                points = (_points("train_loss", [1 / (s + 1) for s in range(POINTS)])
                          + _points("grad_norm", [1.5, math.nan, math.inf, -math.inf]))
                batch += points
            client.log_metrics(run["id"], batch)
            client.finish_run(run["id"])
            ids[name] = run["id"]
    return {"experiment_id": run["experiment_id"], "runs": ids, "points": points}


def test_runs_table_and_json_with_a_filter_and_an_order(srv, logged):
    query = ["--experiment", logged["experiment_id"], "--filter", "optimizer = 'adam'",
             "--order-by", "metrics.val_loss"]
    table, as_json, first = (finish(p) for p in [
        start(srv, "runs", *query), start(srv, "runs", *query, "--json"),
        start(srv, "runs", *query, "--limit", "1", "--json")])

    header, *rows = [cells(line) for line in succeeded(table).splitlines() if cells(line)]
    assert header == ["id", "name", "status", "optimizer", "lr", "step", "val_loss",
                      "val_accuracy", "train_loss"], header  # the ordering metric first
    adam_1, adam_2 = logged["runs"]["adam-1"], logged["runs"]["adam-2"]
    assert rows == [[adam_2, "adam-2", "succeeded", "adam", "0.01", "9", "0.2", "0.8", ""],
                    [adam_1, "adam-1", "succeeded", "adam", "0.001", "4999", "0.3", "0.7",
                     "0.0002"]], rows
    assert "2 run(s)" in table.stdout

    api = srv.api.get("/api/v1/runs", params={"experiment": logged["experiment_id"],
                                              "filter": "optimizer = 'adam'",
                                              "order_by": "metrics.val_loss"}).json()["runs"]
    assert json.loads(succeeded(as_json)) == api
    assert [r["name"] for r in api] == ["adam-2", "adam-1"]
    assert json.loads(succeeded(first)) == api[:1]
    with optrack.Client(srv.url, srv.token) as client:  # what --limit pages through
        paged = list(client.iter_runs(page_size=1, experiment=logged["experiment_id"],
                                      order_by="name"))
        assert [r["name"] for r in paged] == ["adam-1", "adam-2", "sgd-1"]
        assert len(list(client.iter_runs(limit=2, page_size=1, order_by="name"))) == 2


def test_export_to_files_and_stdout_equals_the_api(srv, logged, tmp_path):
    eid = logged["experiment_id"]
    to_csv, to_json, to_stdout = (finish(p) for p in [
        start(srv, "export", eid, "-o", str(tmp_path / "runs.csv")),
        start(srv, "export", eid, "--format", "json", "--output", str(tmp_path / "runs.json")),
        start(srv, "export", eid, "--json", binary=True)])
    api = {f: srv.api.get(f"/api/v1/experiments/{eid}/export", params={"format": f}).content
           for f in ("csv", "json")}
    assert (tmp_path / "runs.csv").read_bytes() == api["csv"]
    assert (tmp_path / "runs.json").read_bytes() == api["json"]
    assert succeeded(to_stdout) == api["json"]  # --json: short for --format json
    assert succeeded(to_csv) == "" and succeeded(to_json) == ""
    assert to_csv.stderr == f"{len(api['csv'])} bytes written to {tmp_path / 'runs.csv'}\n"
    assert not list(tmp_path.glob("*.part"))
    assert len(json.loads(api["json"])) == 3 and api["csv"].count(b"\n") == 4


def test_metrics_streams_every_point_not_the_downsampled_history(srv, logged, tmp_path):
    run_id = logged["runs"]["adam-1"]
    whole, one_key = (finish(p) for p in [
        start(srv, "metrics", run_id, "--format", "csv", "-o", str(tmp_path / "all.csv")),
        start(srv, "metrics", run_id, "--key", "train_loss", "--json")])
    succeeded(whole)
    rows = list(csv.DictReader(io.StringIO((tmp_path / "all.csv").read_text())))
    expected = sorted(logged["points"] + [
        {"key": "val_loss", "step": 9, "value": 0.3, "time": 1.7e9},
        {"key": "val_accuracy", "step": 9, "value": 0.7, "time": 1.7e9}],
        key=lambda p: (p["key"], p["step"]))
    assert len(rows) == POINTS + 6
    # every point, exactly: floats spelled as Python spells them, non-finite ones as the API
    assert [(r["key"], int(r["step"]), r["value"], float(r["time"])) for r in rows] \
        == [(p["key"], p["step"], str(encode_value(p["value"])), p["time"]) for p in expected]
    assert [r["value"] for r in rows if r["key"] == "grad_norm"] == \
        ["1.5", "NaN", "Infinity", "-Infinity"]

    assert json.loads(succeeded(one_key)) == [p for p in logged["points"]
                                              if p["key"] == "train_loss"]
    history = srv.api.get(f"/api/v1/runs/{run_id}/metrics", params={"keys": "train_loss"})
    (series,) = history.json()["series"]
    assert series["downsampled"] and len(series["steps"]) < POINTS  # what export is not


def test_status_and_the_api_s_errors_are_one_line_with_exit_status_1(srv, logged, tmp_path):
    status, *errors = (finish(p) for p in [
        start(srv, "status", logged["experiment_id"], "--json"),
        start(srv, "watch", "nosuch"), start(srv, "runs", "--filter", "foo = 1"),
        start(srv, "metrics", "nosuch", "-o", str(tmp_path / "none.csv")),
        start(srv, "runs", token="otk_wrong")])
    assert json.loads(succeeded(status))["status_counts"] == {"succeeded": 3}
    watch, bad_filter, no_run, bad_token = errors
    failed(watch, "not found")
    failed(bad_filter, "unknown field 'foo'")
    failed(no_run, "not found")
    assert not (tmp_path / "none.csv").exists() and not list(tmp_path.glob("*.part"))
    failed(bad_token, "token")


def test_no_server_and_bad_input_are_one_line_with_exit_status_1(tmp_path):
    nowhere = SimpleNamespace(url=f"http://127.0.0.1:{free_port()}", token="otk_none")
    started = time.monotonic()
    absent, bad_format, no_file = (finish(p) for p in [
        start(nowhere, "runs"), start(nowhere, "export", "some-id", "--format", "xml"),
        start(nowhere, "submit", str(tmp_path / "missing.json"))])
    failed(absent, f"the server {nowhere.url} is not reachable")
    assert "Connection refused" in absent.stderr
    assert time.monotonic() - started < 15  # the command gives up after a few seconds
    failed(bad_format, "--format must be csv or json")
    failed(no_file, "cannot read")
