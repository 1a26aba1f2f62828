"""``optrack watch`` and ``optrack submit --watch`` as processes against a real server and real
workers (both engines): the command follows a grid and an adaptive search (one trial at a time)
while workers train them, and ends by itself when the experiment does, exit status 0; an
experiment where a run fails for real (its dataset file gone when the worker loads it) ends
the watch with exit status 3, naming the run and its error."""

from __future__ import annotations

import json
import uuid

from .conftest import SPIRAL, finish, json_lines, start, succeeded, tiny

SEARCH = {"method": "random", "trials": 3, "parallelism": 1, "seed": 0,
          "space": {"optimizer.lr": {"log_uniform": [1e-3, 1e-1]}},
          "objective": {"metric": "val_loss", "mode": "min"}}


def _experiment_id(srv, run_ids: list[str]) -> str:
    return srv.run(run_ids[0])["experiment_id"]


def _steps_seen(srv, lines: list[dict]) -> dict[str, list[int]]:
    """run id → the steps the progress lines showed it at, checked: each run's step only
    grows, within its total_steps, as the API says them."""
    steps: dict[str, list[int]] = {}
    for line in lines:
        assert line["event"] == "progress", line
        for run in line["running"]:
            steps.setdefault(run["run_id"], []).append(run["step"] or 0)
            assert run["total_steps"] == srv.run(run["run_id"])["total_steps"]
            assert 0 <= (run["step"] or 0) <= run["total_steps"], run
    assert all(seen == sorted(seen) for seen in steps.values()), steps
    return steps


def test_watch_follows_a_grid_and_a_search_until_they_end(srv, workers):
    # two quick runs and a longer one (~1,500 steps), long enough to be seen mid-way
    grid = _experiment_id(srv, srv.submit(tiny(
        f"watched grid {uuid.uuid4().hex[:6]}", dataset="digits",
        model={"kind": "mlp", "hidden": [256, 256]},
        training={"epochs": [2, 2, 100], "batch_size": 128})))
    search = _experiment_id(srv, srv.submit(tiny(f"watched search {uuid.uuid4().hex[:6]}",
                                                 search=SEARCH)))
    watching = [start(srv, "watch", grid, "--json", "--interval", "0.1"),
                start(srv, "watch", search, "--json", "--interval", "0.1")]
    # each watch has printed its first line before any worker can lease a run
    first = [w.stdout.readline() for w in watching]
    workers(srv, 2)
    grid_lines, search_lines = (json_lines(line + succeeded(finish(w)))
                                for line, w in zip(first, watching))

    *progress, end = grid_lines
    assert progress[0]["status_counts"] == {"queued": 3} and progress[0]["running"] == []
    long_run = srv.run(srv.api.get("/api/v1/runs", params={
        "experiment": grid, "filter": "epochs = 100"}).json()["runs"][0]["id"])
    assert any(0 < step < long_run["total_steps"]
               for step in _steps_seen(srv, progress).get(long_run["id"], [])), progress
    assert end["event"] == "end" and end["exit_status"] == 0 and end["failed"] == []
    assert end["status_counts"] == {"succeeded": 3}
    detail = srv.api.get(f"/api/v1/experiments/{grid}").json()
    metric = detail["summary"][0]["best_by"]
    assert end["objective"] == {"metric": metric, "mode": "max" if "accuracy" in metric
                                else "min"}
    runs = srv.api.get("/api/v1/runs", params={"experiment": grid}).json()["runs"]
    pick = max if end["objective"]["mode"] == "max" else min
    best = pick(r["metrics"][metric] for r in runs)
    winner = next(r for r in runs if r["id"] == end["best"]["run_id"])
    assert end["best"] == {"run_id": winner["id"], "name": winner["name"], "value": best}
    assert winner["metrics"][metric] == best

    *progress, end = search_lines
    _steps_seen(srv, progress)
    assert end["status_counts"] == {"succeeded": 3} and end["exit_status"] == 0
    assert end["search"] == {"method": "random", "trials": 3, "done": 3, "pruned": 0}
    summary = srv.api.get(f"/api/v1/experiments/{search}").json()["search"]
    assert end["objective"] == {"metric": "val_loss", "mode": "min"}
    assert (end["best"]["run_id"], end["best"]["value"]) == (summary["best_run_id"],
                                                             summary["best_value"])


def test_submit_watch_names_a_failed_run_and_exits_3(srv, workers, tmp_path):
    name = f"points-{uuid.uuid4().hex[:8]}.csv"  # in the server's and workers' datasets dir
    data = srv.datasets_dir / name
    data.write_text("x1,x2,label\n" + "".join(f"{i / 40},{i % 7 / 7},{i % 2}\n"
                                              for i in range(40)))
    request = tmp_path / "request.json"
    request.write_text(json.dumps(tiny(
        "one fails", dataset=[{"name": "file", "path": name}, SPIRAL],
        training={"epochs": 1, "batch_size": 8})))
    submitting = start(srv, "submit", str(request), "--watch", "--interval", "0.1")
    experiment_id = submitting.stdout.readline().strip()
    data.unlink()  # valid when submitted, gone when a worker loads it
    as_json = start(srv, "watch", experiment_id, "--json", "--interval", "0.1")
    workers(srv, 1)
    human, scripted = finish(submitting), finish(as_json)

    runs = {r["status"]: r for r in srv.api.get(
        "/api/v1/runs", params={"experiment": experiment_id}).json()["runs"]}
    assert set(runs) == {"failed", "succeeded"}, runs
    bad = runs["failed"]
    assert "no such file" in bad["error"]
    assert human.returncode == 3, (human.stdout, human.stderr)
    assert human.stderr == ""
    assert "one fails" in human.stdout and "ended: 1 succeeded · 1 failed" in human.stdout
    first_line = bad["error"].splitlines()[0]
    assert f"failed: {bad['name']} ({bad['id']}): {first_line}" in human.stdout, human.stdout

    assert scripted.returncode == 3, scripted.stderr
    end = json_lines(scripted.stdout)[-1]
    assert end["event"] == "end" and end["exit_status"] == 3
    assert end["status_counts"] == {"failed": 1, "succeeded": 1}
    assert end["failed"] == [{"run_id": bad["id"], "name": bad["name"], "error": bad["error"]}]
