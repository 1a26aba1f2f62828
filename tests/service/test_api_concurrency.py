"""Concurrent writers on SQLite and PostgreSQL: threads log metric batches at once, to runs of
their own and to one shared run; no request fails ("database is locked" included) and every
point is stored exactly once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from service.models import LatestMetric, Metric

THREADS = 8
BATCHES = 10
POINTS = 100  # (20 x 500 per thread takes ~1 min on 2 cores: an insert costs ~0.3 ms a point)
COMMON_STEPS = 200  # steps every thread writes to one key of the shared run, with its own values


def test_concurrent_writers_store_every_point_exactly_once(client):
    app = client.app
    shared = client.post("/api/v1/runs", json={"name": "shared"}).json()["id"]
    own = [client.post("/api/v1/runs", json={"name": f"writer {t}"}).json()["id"]
           for t in range(THREADS)]
    start = threading.Barrier(THREADS)

    def writer(t: int) -> dict:
        results = {"statuses": [], "errors": [], "common_inserted": 0}
        with TestClient(app, headers=client.headers) as http:
            start.wait()
            for b in range(BATCHES):
                steps = range(b * POINTS, (b + 1) * POINTS)
                for run_id, key in ((own[t], "train_loss"), (shared, f"thread_{t}")):
                    response = http.post(f"/api/v1/runs/{run_id}/metrics", json={"metrics": [
                        {"key": key, "step": s, "value": t + s / 1e6} for s in steps]})
                    results["statuses"].append(response.status_code)
                    if response.status_code != 200:
                        results["errors"].append(response.text[:300])
                if b % 3 == 0:  # every thread races for the same (key, step) rows
                    response = http.post(f"/api/v1/runs/{shared}/metrics", json={"metrics": [
                        {"key": "common", "step": s, "value": float(t)}
                        for s in range(COMMON_STEPS)]})
                    results["statuses"].append(response.status_code)
                    if response.status_code == 200:
                        results["common_inserted"] += response.json()["inserted"]
                    else:
                        results["errors"].append(response.text[:300])
        return results

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(writer, range(THREADS)))

    errors = [e for r in results for e in r["errors"]]
    assert errors == [], errors[:5]
    assert {s for r in results for s in r["statuses"]} == {200}
    with app.state.reader() as session:
        def count(*where):
            return session.scalar(select(func.count()).select_from(Metric).where(*where))

        for t, run_id in enumerate(own):
            assert count(Metric.run_id == run_id) == BATCHES * POINTS
            assert count(Metric.run_id == shared, Metric.key == f"thread_{t}") == BATCHES * POINTS
        assert count(Metric.run_id == shared, Metric.key == "common") == COMMON_STEPS
        assert count() == 2 * THREADS * BATCHES * POINTS + COMMON_STEPS
        # no duplicate (run, key, step) could exist: the primary key forbids it; the values
        # of the race are each one thread's, whole
        common = session.execute(select(Metric.step, Metric.value).where(
            Metric.run_id == shared, Metric.key == "common")).all()
        assert {v for _, v in common} <= {float(t) for t in range(THREADS)}
        latest = dict(session.execute(select(LatestMetric.key, LatestMetric.step)
                                      .where(LatestMetric.run_id == shared)).all())
    assert latest == {**{f"thread_{t}": BATCHES * POINTS - 1 for t in range(THREADS)},
                      "common": COMMON_STEPS - 1}
    last = client.get(f"/api/v1/runs/{own[3]}").json()["metrics"]
    assert last == {"train_loss": 3 + (BATCHES * POINTS - 1) / 1e6}
    # every contested point was reported inserted by exactly one of the racing requests
    assert sum(r["common_inserted"] for r in results) == COMMON_STEPS


def test_concurrent_experiment_submissions_and_run_creation(client):
    """Projects are created on first write: many first writes at once make one project."""
    app = client.app
    start = threading.Barrier(6)

    def submit(i: int) -> list[int]:
        with TestClient(app, headers=client.headers) as http:
            start.wait()
            statuses = []
            for j in range(3):
                statuses.append(http.post("/api/v1/experiments", json={
                    "name": f"e{i}-{j}", "project": "race", "dataset": {"name": "xor"},
                    "model": {"kind": "logistic"}, "optimizer": {"name": "sgd"},
                    "training": {"epochs": 1, "seed": [0, 1]}}).status_code)
                statuses.append(http.post("/api/v1/runs", json={
                    "name": f"r{i}-{j}", "project": f"race-{j}"}).status_code)
            return statuses

    with ThreadPoolExecutor(6) as pool:
        statuses = [s for r in pool.map(submit, range(6)) for s in r]
    assert set(statuses) == {201}, statuses
    listed = client.get("/api/v1/experiments", params={"project": "race", "limit": 100}).json()
    assert len(listed["experiments"]) == 18
    assert all(e["status_counts"] == {"queued": 2} for e in listed["experiments"])
