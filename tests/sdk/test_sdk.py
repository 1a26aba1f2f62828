"""The Python SDK against a real server process, on SQLite and PostgreSQL: a training loop
logging every step, the server SIGKILLed and restarted mid-run (no point lost, none doubled),
offline spooling and ``optrack sync`` (exactly once, also when run twice), a server that is
down from the start, a decreasing step refused at once, the ``with`` block and interpreter exit
finishing the run, ``disabled`` mode making no request, ask and tell with ``should_prune``."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time

import pytest

import optrack
from optrack.spool import spool_dir

from ..harness import REPO, free_port, wait_until

STEPS = 2_000


def init(srv, **kw):
    return optrack.init(server=srv.url, token=srv.token, **kw)


def stored(srv, run_id: str, key: str) -> dict[int, float]:
    """step → value, every point of the run's ``key`` (histories at full resolution)."""
    series = srv.history(run_id, [key])[key]
    return dict(zip(series["steps"], series["values"]))


def test_a_training_loop_logs_every_step_and_finishes(srv):
    with init(srv, project="default", experiment="sdk loop", name="lr=3e-4",
              config={"optimizer": {"name": "adam", "lr": 3e-4}}, tags=["baseline"]) as run:
        for step in range(STEPS):
            run.log({"train_loss": 1 / (step + 1), "lr": 3e-4})
        run.log({"val_loss": 0.5}, step=STEPS - 1)
    body = srv.run(run.id)
    assert body["status"] == "succeeded" and body["tags"] == ["baseline"]
    assert body["config"] == {"optimizer": {"name": "adam", "lr": 3e-4}}
    assert stored(srv, run.id, "train_loss") == {s: 1 / (s + 1) for s in range(STEPS)}
    assert stored(srv, run.id, "val_loss") == {STEPS - 1: 0.5}
    # filed under the experiment named, made once for every run that names it
    with init(srv, experiment="sdk loop") as second:
        second.log({"x": 1.0})
    assert srv.run(second.id)["experiment_id"] == body["experiment_id"] is not None


def test_a_server_killed_and_restarted_mid_run_loses_and_doubles_nothing(srv):
    run = init(srv, name="through a restart")
    for step in range(3 * STEPS):
        run.log({"train_loss": float(step)})
        if step == STEPS:
            time.sleep(0.7)  # a send happens, then the server dies under the next ones
            srv.kill()
        if step == 2 * STEPS:
            time.sleep(1.0)  # sends fail and are retried while it is down
            srv.restart()
    run.finish()
    assert not run.offline
    assert stored(srv, run.id, "train_loss") == {s: float(s) for s in range(3 * STEPS)}
    assert srv.run(run.id)["status"] == "succeeded"


def test_offline_runs_are_spooled_then_synced_exactly_once(srv, spool):
    run = optrack.init(name="offline", mode="offline", config={"a": 1}, experiment="later")
    with run:
        for step in range(STEPS):
            run.log({"loss": step / 10})
    assert run.offline and run.id is None and len(list(spool.glob("*.jsonl"))) == 1
    first = optrack.sync(srv.url, srv.token)
    assert len(first) == 1 and optrack.sync(srv.url, srv.token) == []  # twice: no change
    body = srv.run(first[0])
    assert body["status"] == "succeeded" and body["config"] == {"a": 1}
    assert stored(srv, first[0], "loss") == {s: s / 10 for s in range(STEPS)}
    named = srv.api.get("/api/v1/runs", params={"filter": "name = 'offline'"},
                        headers=srv.headers).json()["runs"]
    assert [r["id"] for r in named] == first


def test_a_server_down_from_the_start_spools_and_sync_uploads_later(srv, spool):
    down = f"http://127.0.0.1:{free_port()}"
    with optrack.init(server=down, token=srv.token, name="no server", retry_for=0.3) as run:
        run.log({"loss": 1.0})
        run.log({"loss": 0.5})
    assert run.offline
    done = optrack.sync(srv.url, srv.token)  # the server given now, not the one logged for
    assert stored(srv, done[0], "loss") == {0: 1.0, 1: 0.5}


def test_a_run_that_loses_its_server_goes_on_offline(srv, spool):
    run = init(srv, name="lost", retry_for=0.5)
    run.log({"loss": 1.0})
    wait_until(lambda: stored(srv, run.id, "loss") == {0: 1.0}, 10, "the first point")
    srv.kill()
    run.log({"loss": 0.5})
    run.finish()
    assert run.offline
    srv.restart()
    assert optrack.sync(token=srv.token) == [run.id]  # the server it was logged for
    assert stored(srv, run.id, "loss") == {0: 1.0, 1: 0.5}
    assert srv.run(run.id)["status"] == "succeeded"


def test_a_step_lower_than_one_logged_is_an_error_at_once(srv):
    with init(srv, name="steps") as run:
        run.log({"loss": 1.0, "acc": 0.1}, step=5)
        with pytest.raises(ValueError, match=r"'acc': step 3 is lower than step 5, already logged"):
            run.log({"acc": 0.2, "loss": 2.0}, step=3)
        run.log({"loss": 0.9})  # one past the last step logged
        with pytest.raises(ValueError, match="not a number"):
            run.log({"loss": "high"})
        with pytest.raises(ValueError, match="metric key"):
            run.log({"bad key!": 1.0})
    assert stored(srv, run.id, "loss") == {5: 1.0, 6: 0.9}
    assert stored(srv, run.id, "acc") == {5: 0.1}  # the refused call stored nothing


def test_an_exception_in_the_with_block_fails_the_run(srv):
    with pytest.raises(RuntimeError):
        with init(srv, name="crash") as run:
            run.log({"loss": 1.0})
            raise RuntimeError("out of memory")
    body = srv.run(run.id)
    assert body["status"] == "failed" and body["error"] == "RuntimeError: out of memory"
    assert stored(srv, run.id, "loss") == {0: 1.0}


@pytest.mark.parametrize("ending, status, error", [
    ("pass", "succeeded", None),
    ("raise KeyError('lr')", "failed", "KeyError: 'lr'"),
])
def test_interpreter_exit_finishes_the_run(srv, ending, status, error):
    script = (f"import optrack\nrun = optrack.init(server={srv.url!r}, token={srv.token!r})\n"
              f"print(run.id, flush=True)\nrun.log({{'loss': 1.0}})\n{ending}\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    run_id = done.stdout.split()[0]
    body = srv.run(run_id)
    assert (body["status"], body["error"]) == (status, error)
    assert stored(srv, run_id, "loss") == {0: 1.0}


def test_disabled_mode_makes_no_request(spool, monkeypatch):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    monkeypatch.setenv("OPTRACK_SERVER", f"http://127.0.0.1:{listener.getsockname()[1]}")
    with optrack.init(name="nothing", mode="disabled") as run:
        for step in range(100):
            run.log({"loss": 1.0})
        assert not run.should_prune()
    time.sleep(0.6)  # longer than a send interval
    listener.close()
    assert accepted == [] and not spool.exists() and run.id is None


def test_ask_and_tell_with_should_prune(srv):
    created = srv.api.post("/api/v1/experiments", headers=srv.headers, json={
        "name": "ask", "dataset": "spiral", "model": {"kind": "mlp", "hidden": [8]},
        "training": {"epochs": 3},
        "optimizer": {"name": "adam"},
        "search": {"method": "tpe", "trials": 3, "seed": 0, "external": True,
                   "objective": {"metric": "val_loss", "mode": "min"},
                   "space": {"optimizer.lr": {"log_uniform": [1e-4, 1.0]}},
                   "pruner": {"name": "median", "n_startup_trials": 1}}})
    assert created.status_code == 201, created.text
    experiment_id = created.json()["id"]
    good = optrack.ask(experiment_id, server=srv.url, token=srv.token)
    assert 1e-4 <= good.config["optimizer"]["lr"] <= 1.0
    with good:
        for step in range(3):
            good.log({"val_loss": 0.1})
    bad = optrack.ask(experiment_id, server=srv.url, token=srv.token)
    for step in range(3):
        bad.log({"val_loss": 10.0})
    wait_until(bad.should_prune, 10, "the pruner's answer")
    bad.finish()
    assert bad.should_prune() and srv.run(bad.id)["status"] == "pruned"
    assert srv.run(good.id)["status"] == "succeeded"
    assert spool_dir().exists() is False
