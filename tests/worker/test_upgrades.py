"""Servers and workers upgraded at different times, with real processes on both engines: a
worker trains through a newer server's responses, whatever fields they gain, and follows the
limits the server announces in each lease instead of limits of its own."""

from __future__ import annotations

from .conftest import attempts, small_run
from .reference import assert_matches_reference

NEWER_SERVER = "tests.worker.newer_server:app_from_env"
OLDER_SERVER = "tests.worker.older_server:app_from_env"
METRICS_POSTS = r"POST /api/v1/worker/runs/\w+/metrics"


def test_a_worker_trains_through_a_newer_servers_unknown_fields(server, workers):
    srv = server(wait=False, factory=NEWER_SERVER)
    (worker,) = workers(srv, 1)
    srv.wait_ready()
    lease = srv.api.post("/api/v1/worker/lease", json={"worker_id": "probe", "wait": 0},
                         headers={"authorization": f"Bearer {srv.worker_token}"})
    assert lease.status_code == 204  # nothing queued yet; the probe takes no run
    (run_id,) = srv.submit(small_run("through a newer server", epochs=20))
    run = srv.wait_ended([run_id], timeout=90)[run_id]
    assert run["status"] == "succeeded", (run["status"], run["error"], worker.log()[-2000:])
    assert_matches_reference(srv, run_id)
    assert worker.finished(run_id, 1) == "succeeded" and worker.alive
    assert "Traceback" not in worker.log()


def test_a_lowered_metric_batch_limit_no_longer_fails_runs(server, workers, db_url):
    srv = server(wait=False, max_metric_batch=500)
    (worker,) = workers(srv, 1)
    srv.wait_ready()
    # 2,000 steps, 10,000 points: the worker used to send them 2,000 to a request
    (run_id,) = srv.submit(small_run("many points", epochs=1000))
    run = srv.wait_ended([run_id], timeout=120)[run_id]
    assert run["status"] == "succeeded", (run["status"], run["error"])
    assert [a["outcome"] for a in attempts(db_url, run_id)] == ["succeeded"]
    assert_matches_reference(srv, run_id)
    assert srv.points(run_id, "train_loss") == 2000
    assert srv.access_log(r"POST /api/v1/worker/runs/\w+/metrics HTTP/1.1\" 413") == []


def test_a_runs_last_points_go_with_its_finish(server, workers):
    """Metrics go before the first checkpoint (uploaded at once) and then with ``finish``: a
    short run makes one metrics request, and every point is stored."""
    srv = server(wait=False)
    (worker,) = workers(srv, 1)
    srv.wait_ready()
    (run_id,) = srv.submit(small_run("last points with finish", epochs=5))
    run = srv.wait_ended([run_id], timeout=90)[run_id]
    assert run["status"] == "succeeded", (run["status"], run["error"])
    assert_matches_reference(srv, run_id)
    assert len(srv.access_log(METRICS_POSTS)) == 1


def test_a_worker_sends_its_last_points_before_finish_to_an_older_server(server, workers):
    srv = server(wait=False, factory=OLDER_SERVER)
    (worker,) = workers(srv, 1)
    srv.wait_ready()
    (run_id,) = srv.submit(small_run("through an older server", epochs=5))
    run = srv.wait_ended([run_id], timeout=90)[run_id]
    assert run["status"] == "succeeded", (run["status"], run["error"], worker.log()[-2000:])
    assert_matches_reference(srv, run_id)
    assert len(srv.access_log(METRICS_POSTS)) == 2
    assert srv.access_log(r"/finish HTTP/1.1\" 422") == []
