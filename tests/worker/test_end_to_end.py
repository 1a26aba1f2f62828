"""The whole path on both engines: an experiment submitted over HTTP is expanded into queued
runs, two worker processes lease and train them, and every run ends ``succeeded`` with exactly
the metrics an uninterrupted in-process training produces."""

from __future__ import annotations

from collections import Counter

from ..harness import wait_until
from .conftest import FOUR_OPTIMIZERS, SPIRAL, attempts
from .reference import assert_matches_reference, prefetch_reference


def test_experiment_runs_to_completion_on_two_workers(server, workers, db_url):
    srv = server(wait=False)
    pool = workers(srv, 2)  # importing while the API starts
    srv.wait_ready()
    run_ids = srv.submit({"name": "e2e", "tags": ["e2e"], "dataset": SPIRAL,
                          "model": {"kind": "mlp", "hidden": [16]},
                          "optimizer": FOUR_OPTIMIZERS,
                          "training": {"epochs": 3, "seed": [0, 1, 2]}})
    assert len(run_ids) == 12
    for run_id in run_ids:
        prefetch_reference(srv, run_id)

    runs = srv.wait_ended(run_ids, timeout=90)

    assert {r["status"] for r in runs.values()} == {"succeeded"}, \
        {k: (r["status"], r["error"]) for k, r in runs.items()}
    for run_id, run in runs.items():
        assert run["attempt"] == 1 and run["error"] is None
        assert run["started_at"] and run["finished_at"]
        assert run["summary"]["outcome"] == "succeeded"
        assert_matches_reference(srv, run_id)
        assert [a["outcome"] for a in attempts(db_url, run_id)] == ["succeeded"]
    # each run was leased exactly once, by one of the two workers, and finished by it
    leases = Counter(r for w in pool for r, _ in w.leases())
    assert leases == Counter({r: 1 for r in run_ids}), leases
    for run_id in run_ids:  # a worker logs its finish once the server has answered it
        wait_until(lambda: any(w.finished(run_id) for w in pool), 10, "the finish lines")
    finishes = [(r, a, o) for w in pool for r, a, o in w.finishes()]
    assert sorted(finishes) == sorted((r, 1, "succeeded") for r in run_ids)
    assert all(w.alive for w in pool)
    # the experiment's own view agrees
    detail = srv.api.get(f"/api/v1/experiments/{runs[run_ids[0]]['experiment_id']}").json()
    assert detail["status_counts"] == {"succeeded": 12}
    assert len(detail["summary"]) == 4  # one row per optimizer, over the three seeds
    assert all(row["runs"] == 3 for row in detail["summary"])
