"""The worker protocol's guarantees, in-process (FastAPI's TestClient over the real app and a
real database, both engines): a (run, attempt) is handed out once; an attempt that lost its
lease is fenced off from every worker call with 409; concurrent lease calls from many threads
hand each run to exactly one caller; a waiting lease call wakes when work arrives."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter


from optim_core.training import flatten

from ..conftest import assert_error
from ..service.conftest import make_client  # noqa: F401 (a fixture: signed-in TestClients)
from .conftest import SPIRAL, attempts

W = "/api/v1/worker"


def submit(client, seeds: list[int]) -> list[str]:
    response = client.post("/api/v1/experiments", json={
        "name": "fencing", "dataset": SPIRAL, "model": {"kind": "mlp", "hidden": [4]},
        "optimizer": {"name": "sgd", "lr": 0.1}, "training": {"epochs": 1, "seed": seeds}})
    assert response.status_code == 201, response.text
    return response.json()["run_ids"]


def lease(client, worker_id: str, wait: float = 0) -> dict | None:
    response = client.post(f"{W}/lease", json={"worker_id": worker_id, "wait": wait})
    if response.status_code == 204:
        assert response.content == b""
        return None
    assert response.status_code == 200, response.text
    return response.json()


def point(step: int, value: float = 0.5) -> dict:
    return {"key": "train_loss", "step": step, "value": value, "time": 1.0}


def test_each_lease_call_gets_its_own_run_then_204(make_client):
    client = make_client(lease_seconds=30)
    run_ids = submit(client, [0, 1, 2])
    leases = [lease(client, f"worker-{i}") for i in range(3)]
    assert all(leases)
    pairs = {(got["run_id"], got["attempt"]) for got in leases}
    assert pairs == {(r, 1) for r in run_ids}
    assert lease(client, "worker-3") is None  # nothing left: 204
    for got in leases:
        run = client.get(f"/api/v1/runs/{got['run_id']}").json()
        assert run["status"] == "running" and run["attempt"] == 1
        assert got["config"] == flatten(run["config"])  # the flat config optim_core trains
        assert got["lease_seconds"] == 30 and got["checkpoint_step"] is None


def test_a_waiting_lease_call_wakes_when_an_experiment_arrives(make_client):
    client = make_client(lease_seconds=30)
    got: list = []
    waiter = threading.Thread(target=lambda: got.append((lease(client, "waiter", wait=10),
                                                         time.monotonic())))
    waiter.start()
    time.sleep(0.3)
    submitted = time.monotonic()
    (run_id,) = submit(client, [0])
    waiter.join(timeout=15)
    assert got and got[0][0] is not None and got[0][0]["run_id"] == run_id
    assert got[0][1] - submitted < 2  # woken, not at the end of its 10 s wait


def test_a_stale_attempt_is_fenced_off_from_every_worker_call(make_client, db_url):
    client = make_client(lease_seconds=0.5, retry_backoff_seconds=0)
    (run_id,) = submit(client, [0])
    first = lease(client, "worker-a")
    assert (first["run_id"], first["attempt"]) == (run_id, 1)
    calls = _calls(client, run_id)

    # attempt 1 holds the lease: every call works
    beat = calls["heartbeat"](1)
    assert beat.status_code == 200 and beat.json() == {"cancelled": False, "pruned": False,
                                                       "lease_seconds": 0.5}
    stored = calls["metrics"](1, [point(1), point(2)])
    # (the "inserted" count is covered by tests/service; the history below shows what stored)
    assert stored.status_code == 200 and stored.json()["received"] == 2
    blob = b"checkpoint of attempt 1 " * 100
    put = calls["put_checkpoint"](1, 2, blob)
    assert put.status_code == 200 and put.json()["step"] == 2
    assert calls["get_checkpoint"](1).content == blob

    time.sleep(0.8)  # the lease expires; the next lease call rescues the run
    second = lease(client, "worker-b")
    assert (second["run_id"], second["attempt"]) == (run_id, 2)
    assert second["checkpoint_step"] == 2

    # attempt 1 is fenced off from everything, with the one error shape
    stale = {
        "heartbeat": calls["heartbeat"](1),
        "metrics": calls["metrics"](1, [point(3, 9.0), point(1, 9.0)]),
        "put_checkpoint": calls["put_checkpoint"](1, 3, b"stale checkpoint " * 100),
        "get_checkpoint": calls["get_checkpoint"](1),
        "finish succeeded": calls["finish"](1, "succeeded"),
        "finish failed": calls["finish"](1, "failed"),
        "release": calls["release"](1),
    }
    for name, response in stale.items():
        error = assert_error(response, 409, "conflict")
        assert "no longer holds the lease" in error["message"], (name, error)

    # … and none of them changed anything
    run = client.get(f"/api/v1/runs/{run_id}").json()
    assert run["status"] == "running" and run["attempt"] == 2
    history = client.get(f"/api/v1/runs/{run_id}/metrics",
                         params={"keys": ["train_loss"]}).json()["series"][0]
    assert history["steps"] == [1, 2] and history["values"] == [0.5, 0.5]
    assert calls["get_checkpoint"](2).content == blob

    # attempt 2 carries on and finishes; after that it is fenced off too
    assert calls["heartbeat"](2).status_code == 200
    assert calls["metrics"](2, [point(3)]).status_code == 200
    history = client.get(f"/api/v1/runs/{run_id}/metrics",
                         params={"keys": ["train_loss"]}).json()["series"][0]
    assert history["steps"] == [1, 2, 3] and history["values"] == [0.5, 0.5, 0.5]
    done = calls["finish"](2, "succeeded")
    assert done.status_code == 200 and done.json() == {"status": "succeeded", "next_lease": None}
    for name in ("heartbeat", "release"):
        assert_error(calls[name](2), 409, "conflict")
    assert_error(calls["finish"](2, "succeeded"), 409, "conflict")
    # no such run: 404, as for another project's run (the worker drops the run either way)
    assert_error(calls["heartbeat"](1, run="0" * 32), 404, "not_found")
    assert [(a["attempt"], a["outcome"]) for a in attempts(db_url, run_id)] \
        == [(1, "expired"), (2, "succeeded")]


def test_cancelling_a_running_run_closes_its_attempt(make_client, db_url):
    """A run cancelled while a worker trains it: the worker hears of it from whichever call it
    makes next — here a metrics upload (409), before any heartbeat — and the attempts history
    must still record how attempt 1 ended."""
    client = make_client(lease_seconds=30)
    (run_id,) = submit(client, [0])
    assert lease(client, "worker-a")["run_id"] == run_id
    calls = _calls(client, run_id)
    assert calls["metrics"](1, [point(1)]).status_code == 200
    cancelled = client.post(f"/api/v1/runs/{run_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert_error(calls["metrics"](1, [point(2)]), 409, "conflict")
    assert_error(calls["put_checkpoint"](1, 2, b"c" * 64), 409, "conflict")
    assert_error(calls["finish"](1, "succeeded"), 409, "conflict")
    run = client.get(f"/api/v1/runs/{run_id}").json()
    assert run["status"] == "cancelled" and run["summary"] is None
    history = attempts(db_url, run_id)
    assert [(a["attempt"], a["outcome"]) for a in history] == [(1, "cancelled")], history
    assert history[0]["ended_at"] is not None


def test_concurrent_lease_calls_hand_each_run_to_exactly_one_caller(make_client):
    client = make_client(lease_seconds=60)
    run_ids = submit(client, list(range(10)))
    threads, start = 12, threading.Barrier(12)
    got: list[tuple[str, int, str]] = []
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            start.wait(timeout=30)
            for call in itertools.count():
                # a worker that asks again is given the run it holds: a new worker each call
                worker_id = f"worker-{index}-{call}"
                leased = lease(client, worker_id)
                if leased is None:
                    return
                got.append((leased["run_id"], leased["attempt"], worker_id))
        except BaseException as exc:  # reported below
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=120)
    assert not errors, errors
    handed = Counter((run_id, attempt) for run_id, attempt, _ in got)
    assert handed == Counter({(r, 1): 1 for r in run_ids}), handed
    assert lease(client, "late") is None
    for run_id, _, worker_id in got:
        run = client.get(f"/api/v1/runs/{run_id}").json()
        assert run["status"] == "running" and run["attempt"] == 1


def _calls(client, run_id: str) -> dict:
    """The worker protocol's calls for ``run_id`` by attempt (``run=`` overrides the run)."""
    def url(run, tail):
        return f"{W}/runs/{run or run_id}/{tail}"
    return {
        "heartbeat": lambda a, run=None: client.post(url(run, "heartbeat"), json={"attempt": a}),
        "metrics": lambda a, pts, run=None: client.post(url(run, "metrics"),
                                                        json={"attempt": a, "metrics": pts}),
        "put_checkpoint": lambda a, step, data, run=None: client.put(
            url(run, "checkpoint"), params={"attempt": a, "step": step}, content=data,
            headers={"content-type": "application/octet-stream"}),
        "get_checkpoint": lambda a, run=None: client.get(url(run, "checkpoint"),
                                                         params={"attempt": a}),
        "finish": lambda a, status, run=None: client.post(
            url(run, "finish"), json={"attempt": a, "status": status, "summary": None,
                                      "error": "stale" if status == "failed" else None}),
        "release": lambda a, run=None: client.post(url(run, "release"), json={"attempt": a}),
    }
