"""How runs end other than by succeeding, with real worker processes on both engines:
cancelled while queued or while running, diverged (a result, not a crash), and failed after
``max_attempts`` crashing attempts. After each the worker goes on to the next run.

One server per engine for the module (lease 2 s, max_attempts 2); each test starts its own
workers and waits until its runs have ended."""

from __future__ import annotations

import time
import uuid

import pytest

from ..conftest import assert_error
from ..harness import wait_until
from .conftest import attempts, long_run, shared_server, small_run
from .reference import assert_matches_reference


@pytest.fixture(scope="module")
def srv(module_db_url, tmp_path_factory):
    yield from shared_server(module_db_url, tmp_path_factory.mktemp("outcomes"),
                             lease_seconds=2, max_attempts=2, retry_backoff_seconds=0.1)


def test_cancel_a_queued_run_and_a_running_run(srv, workers):
    # queued, no worker anywhere: cancelled at once
    (queued_id,) = srv.submit(small_run("to cancel while queued"))
    response = srv.cancel(queued_id)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    run = srv.run(queued_id)
    assert run["status"] == "cancelled" and run["finished_at"] and run["attempt"] == 0
    assert_error(srv.cancel(queued_id), 409, "conflict")  # already ended

    (worker,) = workers(srv, 1)
    (long_id,) = srv.submit(long_run(epochs=30))
    wait_until(lambda: worker.holds(long_id, 1), 60, "the worker to lease the long run")
    wait_until(lambda: srv.max_step(long_id) > 30, 30, "the long run to make progress",
               interval=0.02)
    assert srv.run(long_id)["status"] == "running"
    (next_id,) = srv.submit(small_run("after the cancel"))

    cancelled = time.monotonic()
    response = srv.cancel(long_id)
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    outcome = wait_until(lambda: worker.finished(long_id, 1), 15,
                         "the worker to stop the cancelled run")
    stopped_after = time.monotonic() - cancelled
    # it learns at its next heartbeat (every lease/3 s), or earlier from a refused upload
    assert stopped_after < 5, stopped_after
    assert outcome in ("cancelled", "lost"), outcome

    after = srv.wait_ended([next_id], timeout=60)[next_id]
    assert after["status"] == "succeeded"
    assert_matches_reference(srv, next_id)
    assert worker.alive
    assert [r for r, _ in worker.leases()] == [long_id, next_id]  # never the cancelled one
    final = srv.run(long_id)
    assert final["status"] == "cancelled" and final["attempt"] == 1
    assert final["summary"] is None and final["error"] is None
    # nothing was stored for the cancelled run after the worker stopped
    points = srv.points(long_id)
    time.sleep(0.3)
    assert srv.points(long_id) == points
    # (how the attempt is recorded is checked without a race in test_fencing)


def _write_csv(path, rows: int = 40) -> None:
    lines = ["x1,x2,label"] + [f"{i / rows:.3f},{(i * 7 % rows) / rows:.3f},{i % 2}"
                               for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")


def test_diverged_and_crashing_runs_then_the_next_run(srv, workers):
    name = f"points-{uuid.uuid4().hex[:8]}.csv"  # in the server's and workers' datasets dir
    data = srv.datasets_dir / name
    _write_csv(data)
    (crash_id,) = srv.submit({"name": "crash", "dataset": {"name": "file", "path": name},
                              "model": {"kind": "mlp", "hidden": [4]},
                              "optimizer": {"name": "sgd", "lr": 0.1},
                              "training": {"epochs": 1, "batch_size": 8}})
    data.unlink()  # valid when submitted, gone when a worker loads it
    (diverge_id,) = srv.submit({"name": "diverge", "dataset": "digits",
                                "model": {"kind": "mlp", "hidden": [16]},
                                "optimizer": {"name": "sgd", "lr": 1e3},
                                "training": {"epochs": 2}})
    (after_id,) = srv.submit(small_run("after"))
    (worker,) = workers(srv, 1)

    runs = srv.wait_ended([crash_id, diverge_id, after_id], timeout=90)

    diverged = runs[diverge_id]
    assert diverged["status"] == "diverged", (diverged["status"], diverged["error"])
    assert diverged["attempt"] == 1 and diverged["error"] is None
    assert diverged["summary"]["outcome"] == "diverged"
    assert "not finite" in diverged["summary"]["reason"] or "nan" in diverged["summary"]["reason"]
    assert diverged["summary"]["diverged_step"] >= 1
    assert_matches_reference(srv, diverge_id)  # the points before the divergence

    crashed = runs[crash_id]
    assert crashed["status"] == "failed", (crashed["status"], crashed["error"])
    assert crashed["attempt"] == 2 and crashed["summary"] is None
    error = crashed["error"]
    first_line = error.splitlines()[0]
    assert "ConfigError" in first_line and "no such file" in first_line, error
    assert "Traceback" not in error  # the last line only, not the stack
    assert "attempts:" in error
    history = attempts(srv.db_url, crash_id)
    assert [(a["attempt"], a["outcome"]) for a in history] == [(1, "failed"), (2, "failed")]
    for row in history:
        assert f"  {row['attempt']}: failed on {row['worker_id']}" in error, error
        assert "no such file" in row["error"]
    worker.wait_finished(crash_id, 2)
    assert [(r, a, o) for r, a, o in worker.finishes() if r == crash_id] \
        == [(crash_id, 1, "failed"), (crash_id, 2, "failed")]

    after = runs[after_id]
    assert after["status"] == "succeeded"
    assert_matches_reference(srv, after_id)
    assert worker.alive
    assert worker.wait_finished(diverge_id) == "diverged"
    assert worker.wait_finished(after_id) == "succeeded"

