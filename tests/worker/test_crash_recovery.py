"""Crashes and shutdowns in the middle of a run: a worker killed with SIGKILL (its lease
expires, another worker resumes the run from its checkpoint), a worker stopped with SIGTERM
(it checkpoints and hands the run back at once), and the API server killed with SIGKILL while
metrics stream in (the worker's client retries until the server is back). In every case the
run ends ``succeeded`` with exactly the metrics of an uninterrupted training. And a worker
killed while it waits for work must not be handed the next run."""

from __future__ import annotations

import time

import pytest

from ..harness import wait_until
from .conftest import attempts, long_run, run_row, small_run
from .reference import assert_matches_reference, prefetch_reference


def _leased(pool, run_id: str, attempt: int, timeout: float = 30):
    """The worker process that logged the lease of (run, attempt)."""
    return wait_until(lambda: pool.holder(run_id, attempt), timeout,
                      f"a worker to lease run {run_id} attempt {attempt}")


def _wait_checkpointed(srv, run_id: str) -> int:
    """Wait until the run has a stored checkpoint (the runs table says so; the API does not
    show it) while it is still running; its step."""
    def stored():
        row = run_row(srv.db_url, run_id)
        assert row["status"] == "running", f"the run is {row['status']} before its checkpoint"
        return row["checkpoint_step"]
    step = wait_until(stored, 60, f"run {run_id} to store a checkpoint", interval=0.02)
    assert srv.run(run_id)["status"] == "running"
    return step


def _resumed_from_checkpoint(srv, run_id: str, attempt: int) -> bool:
    return bool(srv.access_log(rf'GET /api/v1/worker/runs/{run_id}/checkpoint\?attempt={attempt}'
                               rf' HTTP/1.1" 200'))


def _checkpointed_on_one_of_two_workers(server, workers, lease_seconds: float):
    """A long run on a new server, leased by one of two workers and checkpointed, still
    running: (server, run id, the worker holding it, the other worker)."""
    srv = server(wait=False, lease_seconds=lease_seconds)
    pool = workers(srv, 2)
    srv.wait_ready()
    (run_id,) = srv.submit(long_run())
    prefetch_reference(srv, run_id)
    holder = _leased(workers, run_id, 1)
    other = next(w for w in pool if w is not holder)
    _wait_checkpointed(srv, run_id)
    return srv, run_id, holder, other


def test_worker_killed_mid_run_is_rescued_and_resumed_elsewhere(server, workers, db_url):
    srv, run_id, holder, idle = _checkpointed_on_one_of_two_workers(server, workers, 2)
    assert not idle.leases(), "the second worker should have had nothing to do"

    holder.kill()  # SIGKILL: no release, no last heartbeat
    killed = time.monotonic()
    assert srv.run(run_id)["status"] == "running"  # nobody told the server

    wait_until(lambda: idle.holds(run_id, 2), 30, "the idle worker to take over (attempt 2)")
    rescued_after = time.monotonic() - killed
    run = srv.wait_ended([run_id], timeout=90)[run_id]

    assert run["status"] == "succeeded", (run["status"], run["error"])
    assert run["attempt"] == 2 and run["error"] is None
    assert rescued_after < 15, rescued_after  # lease 2 s, not the default 30 s
    assert _resumed_from_checkpoint(srv, run_id, 2), "attempt 2 did not fetch the checkpoint"
    assert idle.wait_finished(run_id, 2) == "succeeded" and idle.alive
    history = attempts(db_url, run_id)
    assert [(a["attempt"], a["outcome"]) for a in history] == [(1, "expired"), (2, "succeeded")]
    assert history[0]["worker_id"] != history[1]["worker_id"]
    assert all(a["ended_at"] is not None for a in history)
    assert_matches_reference(srv, run_id)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sigterm_checkpoints_and_releases_the_run_at_once(server, workers, db_url):
    # a lease of 60 s: a rescue by expiry would take a minute
    srv, run_id, holder, other = _checkpointed_on_one_of_two_workers(server, workers, 60)

    holder.terminate()
    stopped = time.monotonic()
    code = holder.proc.wait(timeout=15)
    exited_after = time.monotonic() - stopped

    assert code == 0, holder.log()[-2000:]
    assert exited_after < 5, exited_after
    assert holder.finished(run_id, 1) == "released", holder.log()[-2000:]
    assert srv.run(run_id)["status"] in ("queued", "running")
    wait_until(lambda: other.holds(run_id, 2), 10, "the other worker to take the run over")
    assert time.monotonic() - stopped < 10  # far less than the 60 s lease
    run = srv.wait_ended([run_id], timeout=90)[run_id]

    assert run["status"] == "succeeded", (run["status"], run["error"])
    assert run["attempt"] == 2
    assert _resumed_from_checkpoint(srv, run_id, 2)
    assert [(a["attempt"], a["outcome"]) for a in attempts(db_url, run_id)] \
        == [(1, "released"), (2, "succeeded")]
    assert_matches_reference(srv, run_id)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_api_server_killed_during_ingestion_and_restarted(server, workers, db_url):
    srv = server(wait=False, lease_seconds=10)
    (worker,) = workers(srv, 1)
    srv.wait_ready()
    (run_id,) = srv.submit(long_run())
    prefetch_reference(srv, run_id)
    assert _leased(workers, run_id, 1) is worker
    _wait_checkpointed(srv, run_id)

    srv.kill()  # SIGKILL mid-stream: requests in flight are cut off
    time.sleep(1.0)  # the worker trains on; its uploads and heartbeats retry
    srv.start()  # the same port and database
    assert srv.starts == 2
    run = srv.wait_ended([run_id], timeout=90)[run_id]

    assert run["status"] == "succeeded", (run["status"], run["error"])
    assert run["attempt"] == 1  # the worker carried on; no second attempt
    assert worker.wait_finished(run_id, 1) == "succeeded"
    assert worker.alive
    retried = [line for line in worker.log().splitlines()
               if f"/runs/{run_id}/" in line and "retrying in" in line]
    assert retried, "the worker never saw the server gone"
    assert [a["outcome"] for a in attempts(db_url, run_id)] == ["succeeded"]
    assert_matches_reference(srv, run_id)



@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_worker_killed_while_waiting_for_work_is_not_handed_a_run(server, workers, db_url):
    """An idle worker waits inside a long-polling lease call. Killed there (SIGKILL, a lost
    machine), its call must not go on to claim the next run for nobody: that run would sit
    'running' for a whole lease and use up one of its attempts before anyone trains it."""
    srv = server(wait=False, lease_seconds=30, lease_wait_seconds=20)  # the default wait
    (worker,) = workers(srv, 1)
    srv.wait_ready()
    (first,) = srv.submit(small_run("first"))
    wait_until(lambda: worker.finished(first, 1), 60, "the worker to finish the first run")
    time.sleep(0.3)  # the worker is back in a lease call, waiting up to 10 s
    worker.kill()

    (orphan,) = srv.submit(small_run("submitted after the worker died"))
    time.sleep(1.0)
    run = srv.run(orphan)
    assert run["status"] == "queued" and run["attempt"] == 0, \
        (f"a dead worker's pending lease call claimed the run: {run['status']}, "
         f"attempt {run['attempt']}, {attempts(db_url, orphan)}")
