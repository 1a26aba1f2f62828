"""Servers and workers upgraded at different times, with real processes on both engines: a
worker trains through a newer server's responses, whatever fields they gain, and follows the
limits the server announces in each lease instead of limits of its own."""

from __future__ import annotations

from optrack.protocol import WorkerClient

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
    assert worker.wait_finished(run_id, 1) == "succeeded" and worker.alive
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
    """Metrics go before the first checkpoint (uploaded at once), then as time passes, and
    the last ones with ``finish``; every point is stored."""
    srv = server(wait=False)
    (worker,) = workers(srv, 1)
    srv.wait_ready()
    run_ids = srv.submit(small_run("last points with finish", epochs=5, seed=[0, 1, 2]))
    ended = srv.wait_ended(run_ids, timeout=90)
    assert {r["status"] for r in ended.values()} == {"succeeded"}, ended
    for run_id in run_ids:
        assert_matches_reference(srv, run_id)
    assert len(srv.access_log(METRICS_POSTS)) >= 3  # the points before each first checkpoint
    # a 5-ms run whose worker stalls past a timed flush at its very end sends its last points
    # before finish; not all three
    assert sum(worker.handovers(run_ids)[r][0] for r in run_ids) > 0


def test_a_worker_takes_its_next_run_from_the_finish(server, workers):
    """Each finish leases the worker its next queued run in the same transaction: one lease
    call hands out the first of four runs, and the worker asks again only when none is left."""
    srv = server(wait=False)
    (worker,) = workers(srv, 1)
    srv.wait_ready()
    run_ids = srv.submit(small_run("handed over", seed=[0, 1, 2, 3]))
    ended = srv.wait_ended(run_ids, timeout=120)
    assert {r["status"] for r in ended.values()} == {"succeeded"}, ended
    for run_id in run_ids:
        assert_matches_reference(srv, run_id)
    handed = worker.handovers(run_ids)
    order = sorted(run_ids, key=lambda r: ended[r]["started_at"])
    assert [handed[r][1] for r in order] == order[1:] + [None]
    assert len(srv.access_log(r"POST /api/v1/worker/lease HTTP/1.1\" 200")) == 1


def test_a_worker_sends_its_last_points_before_finish_to_an_older_server(server, workers):
    srv = server(wait=False, factory=OLDER_SERVER)
    (worker,) = workers(srv, 1)
    srv.wait_ready()
    (run_id,) = srv.submit(small_run("through an older server", epochs=5))
    run = srv.wait_ended([run_id], timeout=90)[run_id]
    assert run["status"] == "succeeded", (run["status"], run["error"], worker.log()[-2000:])
    assert_matches_reference(srv, run_id)
    assert len(srv.access_log(METRICS_POSTS)) >= 2  # before the checkpoint, before finish
    assert worker.handovers([run_id])[run_id] == (0, None)
    assert srv.access_log(r"/finish HTTP/1.1\" 422") == []


def test_a_worker_leases_each_run_from_an_older_server(server, workers):
    srv = server(wait=False, factory=OLDER_SERVER)
    (worker,) = workers(srv, 1)
    srv.wait_ready()
    run_ids = srv.submit(small_run("leased one by one", seed=[0, 1, 2]))
    ended = srv.wait_ended(run_ids, timeout=120)
    assert {r["status"] for r in ended.values()} == {"succeeded"}, ended
    assert {worker.handovers(run_ids)[r][1] for r in run_ids} == {None}
    assert len(srv.access_log(r"POST /api/v1/worker/lease HTTP/1.1\" 200")) == 3
    assert srv.access_log(r"/finish HTTP/1.1\" 422") == []


def test_a_finish_asking_for_the_next_run_is_sent_again_without_it_to_an_older_server(server):
    # a rolling upgrade: the lease came from a newer server behind the same address, the
    # finish reaches an older one, which refuses the field (422); the worker's client sends
    # the same finish without it, and the worker leases its next run itself
    srv = server(factory=OLDER_SERVER)
    (run_id,) = srv.submit(small_run("finished through an older server"))
    client = WorkerClient(srv.url, srv.worker_token)
    lease = client.lease("rolling", wait=5)
    assert lease is not None and lease.run_id == run_id and not lease.finish_leases_next
    assert client.finish(run_id, lease.attempt, "succeeded", lease_next_for="rolling") is None
    assert srv.api.get(f"/api/v1/runs/{run_id}").json()["status"] == "succeeded"
    assert len(srv.access_log(r"/finish HTTP/1.1\" 422")) == 1
    assert len(srv.access_log(r"/finish HTTP/1.1\" 200")) == 1
