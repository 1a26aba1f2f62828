"""Run progress (``total_steps`` set at expansion, ``step`` = the highest step logged) and a run's
attempts (``GET /runs/{id}/attempts``) on both engines, driven over the API and the worker
protocol."""

from __future__ import annotations

import math
from datetime import datetime

from sqlalchemy import event

from optim_core import datasets

from .conftest import assert_error

RUNS = "/api/v1/runs"
W = "/api/v1/worker"
POINT = {"name": "p", "model": {"kind": "point", "function": "anisotropic"},
         "optimizer": {"name": "sgd", "lr": 0.1}, "training": {"steps": 30}}


def submit(client, body: dict) -> list[str]:
    response = client.post("/api/v1/experiments", json=body)
    assert response.status_code == 201, response.text
    return response.json()["run_ids"]


def new_run(client, name: str = "ext") -> str:
    response = client.post(RUNS, json={"name": name})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def log(client, run_id: str, points: list[tuple[str, int]]) -> None:
    response = client.post(f"{RUNS}/{run_id}/metrics", json={"metrics": [
        {"key": key, "step": step, "value": 0.5} for key, step in points]})
    assert response.status_code == 200, response.text


def lease(client, worker_id: str) -> dict:
    response = client.post(f"{W}/lease", json={"worker_id": worker_id, "wait": 0})
    assert response.status_code == 200, response.text
    return response.json()


def attempts(client, run_id: str) -> list[dict]:
    response = client.get(f"{RUNS}/{run_id}/attempts")
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"attempts"}
    return response.json()["attempts"]


def when(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert value.utcoffset() is not None, text
    return value


# -- progress --------------------------------------------------------------------------------

def test_a_point_experiment_run_has_its_total_steps_and_no_step_yet(client):
    [rid] = submit(client, POINT)
    run = client.get(f"{RUNS}/{rid}").json()
    assert run["total_steps"] == 30 and run["step"] is None
    [listed] = client.get(RUNS).json()["runs"]
    assert (listed["total_steps"], listed["step"]) == (30, None)


def test_an_epochs_experiment_counts_epochs_times_batches_per_epoch(client):
    spiral = {"name": "spiral", "samples": 100}
    n_train = len(datasets.load("spiral", seed=0, samples=100).x_train)
    assert n_train % 64 != 0  # the last batch of each epoch is a short one
    rids = submit(client, {"name": "e", "dataset": spiral, "model": {"kind": "logistic"},
                           "optimizer": {"name": "sgd"},
                           "training": {"epochs": [2, 3], "batch_size": 64}})
    totals = sorted(client.get(f"{RUNS}/{rid}").json()["total_steps"] for rid in rids)
    assert totals == [epochs * math.ceil(n_train / 64) for epochs in (2, 3)]


def test_step_is_the_highest_step_logged_over_every_key(client):
    rid = new_run(client)
    run = client.get(f"{RUNS}/{rid}").json()
    assert (run["total_steps"], run["step"]) == (None, None)  # external: no plan, no metric
    log(client, rid, [("train_loss", 0), ("train_loss", 1), ("train_loss", 7)])
    assert client.get(f"{RUNS}/{rid}").json()["step"] == 7
    log(client, rid, [("val_loss", 12), ("train_loss", 3)])  # a late point moves nothing back
    run = client.get(f"{RUNS}/{rid}").json()
    assert (run["step"], run["total_steps"]) == (12, None)
    other = new_run(client, "other")
    log(client, other, [("lr", 2)])
    steps = {r["id"]: r["step"] for r in client.get(RUNS).json()["runs"]}
    assert steps == {rid: 12, other: 2}


def test_a_worker_run_reports_the_steps_its_worker_logged(client):
    [rid] = submit(client, POINT)
    leased = lease(client, "w1")
    response = client.post(f"{W}/runs/{rid}/metrics", json={
        "attempt": leased["attempt"],
        "metrics": [{"key": "loss", "step": s, "value": 1.0 / (s + 1)} for s in range(10)]})
    assert response.status_code == 200, response.text
    run = client.get(f"{RUNS}/{rid}").json()
    assert (run["status"], run["step"], run["total_steps"]) == ("running", 9, 30)


def test_listing_runs_takes_as_many_queries_for_many_runs_as_for_one(client):
    def statements_to_list() -> int:
        seen: list[str] = []
        engine = client.app.state.engine
        listener = lambda *args: seen.append(args[2])  # noqa: E731 (conn, cursor, statement…)
        event.listen(engine, "before_cursor_execute", listener)
        try:
            assert client.get(RUNS).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return len(seen)

    log(client, new_run(client), [("loss", 1)])
    one = statements_to_list()
    for i in range(5):
        log(client, new_run(client, f"r{i}"), [("loss", i), ("acc", i + 1)])
    submit(client, {**POINT, "training": {"steps": 30, "seed": [0, 1, 2]}})
    assert one >= 3 and statements_to_list() == one


# -- attempts --------------------------------------------------------------------------------

def test_attempts_record_each_lease_and_how_it_ended(make_client):
    client = make_client(retry_backoff_seconds=0, lease_seconds=30)
    [rid] = submit(client, POINT)
    assert attempts(client, rid) == []
    first = lease(client, "worker-a")
    [running] = attempts(client, rid)
    assert (running["attempt"], running["worker_id"]) == (1, "worker-a")
    assert running["ended_at"] is None and running["outcome"] is None
    assert running["error"] is None and when(running["started_at"])
    assert client.post(f"{W}/runs/{rid}/release", json={"attempt": first["attempt"]}).json() \
        == {"status": "queued"}
    second = lease(client, "worker-b")
    failed = client.post(f"{W}/runs/{rid}/finish", json={
        "attempt": second["attempt"], "status": "failed", "error": "out of memory"})
    assert failed.status_code == 200 and failed.json() == {"status": "queued", "next_lease": None}
    third = lease(client, "worker-c")
    done = client.post(f"{W}/runs/{rid}/finish", json={"attempt": third["attempt"],
                                                      "status": "succeeded"})
    assert done.json() == {"status": "succeeded", "next_lease": None}
    got = attempts(client, rid)
    assert [(a["attempt"], a["worker_id"], a["outcome"], a["error"]) for a in got] == [
        (1, "worker-a", "released", None), (2, "worker-b", "failed", "out of memory"),
        (3, "worker-c", "succeeded", None)]
    for a in got:
        assert set(a) == {"attempt", "worker_id", "started_at", "ended_at", "outcome", "error"}
        assert when(a["started_at"]) <= when(a["ended_at"])
    assert [when(a["started_at"]) for a in got] == sorted(when(a["started_at"]) for a in got)


def test_attempts_of_an_external_run_are_empty(client):
    assert attempts(client, new_run(client)) == []


def test_attempts_of_a_cancelled_running_run_end_as_cancelled(client):
    [rid] = submit(client, POINT)
    lease(client, "worker-a")
    assert client.post(f"{RUNS}/{rid}/cancel").status_code == 200
    [cancelled] = attempts(client, rid)
    assert (cancelled["outcome"], cancelled["worker_id"]) == ("cancelled", "worker-a")
    assert cancelled["ended_at"] is not None


def test_attempts_of_an_unknown_run_are_404(shared_client):
    for run_id in ("0123456789abcdef0123456789abcdef", "x'%20or%20'1'='1"):
        error = assert_error(shared_client.get(f"{RUNS}/{run_id}/attempts"), 404, "not_found")
        assert "not found" in error["message"]


# -- the last points with finish ---------------------------------------------------------------

def test_finish_stores_the_last_points_with_the_verdict_or_neither(make_client):
    client = make_client(lease_seconds=30, max_metric_batch=3)
    [rid] = submit(client, POINT)
    held = lease(client, "worker-a")
    assert held["finish_takes_metrics"] is True
    points = [{"key": "loss", "step": s, "value": 0.5 - s / 10} for s in range(4)]
    too_many = client.post(f"{W}/runs/{rid}/finish", json={
        "attempt": held["attempt"], "status": "succeeded", "metrics": points})
    assert_error(too_many, 413, "too_large")
    assert client.get(f"{RUNS}/{rid}").json()["status"] == "running"  # neither
    assert client.get(f"{RUNS}/{rid}/metrics").json()["series"] == []
    done = client.post(f"{W}/runs/{rid}/finish", json={
        "attempt": held["attempt"], "status": "succeeded", "metrics": points[1:]})
    assert done.json() == {"status": "succeeded", "next_lease": None}
    run = client.get(f"{RUNS}/{rid}").json()
    assert (run["status"], run["metrics"], run["step"]) == ("succeeded", {"loss": 0.2}, 3)
    replayed = client.post(f"{W}/runs/{rid}/finish", json={
        "attempt": held["attempt"], "status": "succeeded", "metrics": points[:1]})
    assert replayed.status_code == 409  # the lease is gone: its points are not stored either
    [series] = client.get(f"{RUNS}/{rid}/metrics").json()["series"]
    assert series["steps"] == [1, 2, 3]


# -- the next lease with finish ----------------------------------------------------------------

def test_finish_leases_the_next_run_in_its_transaction_or_none(make_client):
    client = make_client(lease_seconds=30)
    run_ids = submit(client, {**POINT, "training": {"steps": 30, "seed": [0, 1]}})
    held = lease(client, "worker-a")
    assert held["finish_leases_next"] is True
    first = held["run_id"]
    (second,) = set(run_ids) - {first}
    done = client.post(f"{W}/runs/{first}/finish", json={
        "attempt": held["attempt"], "status": "succeeded", "lease_next_for": "worker-a"})
    assert done.status_code == 200, done.text
    answer = done.json()
    assert answer["status"] == "succeeded"
    handed = answer["next_lease"]
    assert (handed["run_id"], handed["attempt"]) == (second, 1)
    assert handed["config"]["seed"] == 1 - held["config"]["seed"]
    assert set(handed) == set(held)  # the lease's own shape
    assert client.get(f"{RUNS}/{second}").json()["status"] == "running"
    assert [a["worker_id"] for a in attempts(client, second)] == ["worker-a"]

    # the next finish finds nothing queued: null, and nothing else changed
    last = client.post(f"{W}/runs/{second}/finish", json={
        "attempt": 1, "status": "succeeded", "lease_next_for": "worker-a"})
    assert last.json() == {"status": "succeeded", "next_lease": None}
    # without lease_next_for nothing is leased
    [third] = submit(client, POINT)
    plain = lease(client, "worker-b")
    assert client.post(f"{W}/runs/{third}/finish", json={
        "attempt": plain["attempt"], "status": "succeeded"}).json() == {"status": "succeeded",
                                                                       "next_lease": None}


def test_a_refused_finish_leases_nothing(make_client):
    client = make_client(lease_seconds=30)
    run_ids = submit(client, {**POINT, "training": {"steps": 30, "seed": [0, 1]}})
    held = lease(client, "worker-a")
    first = held["run_id"]
    (waiting,) = set(run_ids) - {first}
    stale = client.post(f"{W}/runs/{first}/finish", json={
        "attempt": held["attempt"] + 1, "status": "succeeded", "lease_next_for": "worker-a"})
    assert_error(stale, 409)
    bad = client.post(f"{W}/runs/{first}/finish", json={
        "attempt": held["attempt"], "status": "succeeded", "lease_next_for": ""})
    error = assert_error(bad, 422)
    assert "lease_next_for" in str(error["details"])
    assert client.get(f"{RUNS}/{waiting}").json()["status"] == "queued"
    assert client.get(f"{RUNS}/{first}").json()["status"] == "running"


def test_a_finish_sent_again_gets_the_run_it_handed_over(make_client):
    # the client retries a request whose answer was lost: the run the first finish leased is
    # handed over again, not left running until its lease runs out
    client = make_client(lease_seconds=30)
    run_ids = submit(client, {**POINT, "training": {"steps": 30, "seed": [0, 1]}})
    held = lease(client, "worker-a")
    body = {"attempt": held["attempt"], "status": "succeeded", "lease_next_for": "worker-a"}
    first = client.post(f"{W}/runs/{held['run_id']}/finish", json=body).json()
    again = client.post(f"{W}/runs/{held['run_id']}/finish", json=body)
    assert again.status_code == 200, again.text
    assert again.json() == first and first["next_lease"]["run_id"] in run_ids
    handed = first["next_lease"]
    assert [a["attempt"] for a in attempts(client, handed["run_id"])] == [1]
    # the last finish found nothing queued: sent again, nothing again
    last = {"attempt": 1, "status": "succeeded", "lease_next_for": "worker-a"}
    assert client.post(f"{W}/runs/{handed['run_id']}/finish", json=last).json() == {
        "status": "succeeded", "next_lease": None}
    assert client.post(f"{W}/runs/{handed['run_id']}/finish", json=last).json() == {
        "status": "succeeded", "next_lease": None}
    # another verdict, or no lease_next_for: 409 as before
    for changed in ({**last, "status": "diverged"}, {"attempt": 1, "status": "succeeded"}):
        assert_error(client.post(f"{W}/runs/{handed['run_id']}/finish", json=changed), 409)


def test_a_failed_attempt_hands_over_no_run(make_client):
    client = make_client(lease_seconds=30, retry_backoff_seconds=0)
    [rid] = submit(client, POINT)
    held = lease(client, "worker-a")
    failed = client.post(f"{W}/runs/{rid}/finish", json={
        "attempt": held["attempt"], "status": "failed", "error": "boom",
        "lease_next_for": "worker-a"})
    assert failed.json() == {"status": "queued", "next_lease": None}
    assert client.get(f"{RUNS}/{rid}").json()["status"] == "queued"


def test_a_lease_whose_answer_was_lost_is_given_again_to_the_worker_that_asks(make_client):
    # a worker asks for a lease only when it holds none: asking again, it lost the answer of
    # the call that leased it a run (a timeout, a dropped connection); it gets that run's same
    # attempt again, its lease extended, instead of a second run while the first waits out
    # its lease and uses up an attempt
    client = make_client(lease_seconds=30)
    run_ids = submit(client, {**POINT, "training": {"steps": 30, "seed": [0, 1]}})
    lost = lease(client, "worker-a")
    before = when(client.get(f"{RUNS}/{lost['run_id']}").json()["started_at"])
    again = lease(client, "worker-a")
    assert again == lost
    assert [a["attempt"] for a in attempts(client, lost["run_id"])] == [1]
    assert when(client.get(f"{RUNS}/{lost['run_id']}").json()["started_at"]) == before
    # another worker gets the other run; the first, once it finished, gets nothing more
    other = lease(client, "worker-b")
    assert {lost["run_id"], other["run_id"]} == set(run_ids)
    assert client.post(f"{W}/runs/{lost['run_id']}/finish", json={
        "attempt": 1, "status": "succeeded"}).status_code == 200
    assert client.post(f"{W}/lease", json={"worker_id": "worker-a", "wait": 0}).status_code == 204
    # a stopped run is not given again: the worker learns of the stop at its heartbeat
    assert client.post(f"{RUNS}/{other['run_id']}/cancel").status_code == 200
    assert client.post(f"{W}/lease", json={"worker_id": "worker-b", "wait": 0}).status_code == 204
