"""Runs that push the worker off its happy path, with a real server and worker process
(SQLite; nothing here depends on the engine): a summary holding NaN, a checkpoint whose blob
is gone from the data directory, and a checkpoint larger than an ordinary request body. The
worker must report each run's outcome and live on to take the next run. One server for the
module (default limits; lease 30 s, max_attempts 2); each test starts its own worker."""

from __future__ import annotations

import hashlib

import pytest

from ..harness import wait_until
from .conftest import shared_server, small_run
from .reference import assert_matches_reference

pytestmark = pytest.mark.parametrize("module_db_url", ["sqlite"], indirect=True, scope="module")

W = "/api/v1/worker"


@pytest.fixture(scope="module")
def srv(module_db_url, tmp_path_factory):
    yield from shared_server(module_db_url, tmp_path_factory.mktemp("robustness"),
                             lease_seconds=30, max_attempts=2)


def test_a_run_that_diverges_right_after_an_evaluation_ends_diverged(srv, workers):
    """With eval_every=1 the validation right before the divergence sees the blown-up weights:
    val_loss is NaN, and the summary's latest metrics carry it. The run must still end
    ``diverged`` on its first attempt, not be retried and failed."""
    (worker,) = workers(srv, 1)
    (run_id,) = srv.submit({"name": "diverge after eval", "dataset": "digits",
                            "model": {"kind": "mlp", "hidden": [16]},
                            "optimizer": {"name": "sgd", "lr": 1e3},
                            "training": {"epochs": 1, "eval_every": 1}})
    run = srv.wait_ended([run_id], timeout=60)[run_id]
    assert run["status"] == "diverged", (run["status"], run["attempt"], run["error"])
    assert run["attempt"] == 1
    assert worker.wait_finished(run_id, 1) == "diverged", worker.log()[-3000:]
    assert_matches_reference(srv, run_id, check_summary=False)
    assert run["summary"]["reason"].startswith("loss is nan")


def test_a_missing_checkpoint_blob_does_not_kill_the_worker(srv, workers):
    """A run's checkpoint row points at a blob that is gone (data directory restored from an
    older backup, a disk cleaned up…). The worker resuming it must report the attempt, not
    crash: otherwise every worker that leases the run dies in turn."""
    (run_id,) = srv.submit(small_run("checkpoint gone"))
    # a first attempt (this test, speaking the protocol) stores a checkpoint and hands back
    lease = srv.api.post(f"{W}/lease", json={"worker_id": "test", "wait": 0}).json()
    assert (lease["run_id"], lease["attempt"]) == (run_id, 1)
    blob = b"a checkpoint of step 1 " * 100
    put = srv.api.put(f"{W}/runs/{run_id}/checkpoint", params={"attempt": 1, "step": 1},
                      content=blob, headers={"content-type": "application/octet-stream"})
    assert put.status_code == 200, put.text
    assert srv.api.post(f"{W}/runs/{run_id}/release", json={"attempt": 1}).status_code == 200
    (srv.data_dir / "checkpoints" / hashlib.sha256(blob).hexdigest()).unlink()
    (next_id,) = srv.submit(small_run("the next run"))

    (worker,) = workers(srv, 1)
    try:
        wait_until(lambda: worker.holds(run_id, 2), 60, "the worker to lease the run")
        wait_until(lambda: not worker.alive or srv.run(run_id)["status"] != "running"
                   or worker.finished(run_id, 2), 30, "the attempt to end")

        assert worker.alive, f"the worker died:\n{worker.log()[-3000:]}"
        runs = srv.wait_ended([run_id, next_id], timeout=60)
        assert runs[run_id]["status"] in ("failed", "succeeded"), runs[run_id]
        assert runs[next_id]["status"] == "succeeded"
    finally:  # leave nothing queued or running for the module's other tests
        for left in (run_id, next_id):
            srv.cancel(left)


def test_a_checkpoint_larger_than_a_request_body_is_stored(srv, workers):
    """max_checkpoint_bytes (256 MiB by default) is the limit of a checkpoint upload; a model
    whose state is 17.5 MiB (MLP 64-1200-1200-10 with Adam) is far below it, so its run must
    succeed with the default settings."""
    workers(srv, 1)
    # the server runs with the defaults: max_body_bytes 16 MiB, max_checkpoint_bytes 256 MiB
    (run_id,) = srv.submit({"name": "wide", "dataset": "digits",
                            "model": {"kind": "mlp", "hidden": [1200, 1200]},
                            "optimizer": {"name": "adam", "lr": 0.001},
                            "training": {"steps": 2, "checkpoint_every": 1}})
    run = srv.wait_ended([run_id], timeout=60)[run_id]
    assert run["status"] == "succeeded", (run["status"], run["error"])
    assert run["attempt"] == 1
    assert_matches_reference(srv, run_id)
