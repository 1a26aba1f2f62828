"""A fair comparison of optimizers on real processes, both engines: two API processes over one
database, four workers, an API process SIGKILLed mid-search and a worker SIGKILLed while it
holds a final run. Every optimizer still gets exactly ``budget`` search trials and
``final_seeds`` final runs, numbered once each; the final runs start only after their
optimizer's search ended, on the fresh seeds, are never pruned, and the result ranks every
optimizer and tests every pair."""

from __future__ import annotations

from itertools import combinations
from typing import Any

from sqlalchemy import select

from ..harness import ENDED, WorkerProc, Workers, models, wait_until
from .conftest import SPIRAL, _rows, attempts, two_apis_submitting

OPTIMIZERS = ["sgd", "momentum", "adagrad", "adam"]
BUDGET, FINAL_SEEDS, SEED = 4, 3, 3
RUNS = len(OPTIMIZERS) * (BUDGET + FINAL_SEEDS)
COMPARE = {"name": "compare", "dataset": SPIRAL, "model": {"kind": "mlp", "hidden": [16]},
           "training": {"epochs": 6, "seed": SEED},
           "search": {"method": "compare", "optimizers": OPTIMIZERS,
                      "tune": {"optimizer.lr": {"log_uniform": [1e-4, 1.0]}},
                      "budget": BUDGET, "sampler": "tpe", "final_seeds": FINAL_SEEDS, "seed": 0,
                      "parallelism": 4, "objective": {"metric": "val_loss", "mode": "min"},
                      "pruner": {"name": "asha", "min_resource": 1, "reduction_factor": 2}}}


def trial_rows(db_url: str, experiment_id: str) -> list[dict[str, Any]]:
    """The experiment's trials joined with their runs, in number order."""
    t, r = models.Trial, models.Run
    return _rows(db_url, select(t.number, t.study, t.final, r.id, r.status, r.config,
                                r.created_at, r.finished_at)
                 .join(r, r.id == t.run_id).where(t.experiment_id == experiment_id)
                 .order_by(t.number))


def comparison_done(detail: dict[str, Any]) -> bool:
    """No run left to run and every optimizer's search and final runs over."""
    counts = detail["status_counts"]
    return (not counts.get("queued") and not counts.get("running")
            and all(o["status"] == "done" for o in detail["comparison"]["optimizers"]))


def final_run_holder(db_url: str, experiment_id: str, pool: Workers) -> WorkerProc | None:
    """A live worker that holds the lease of one of the experiment's final runs, if any (the
    database says the run is running, the worker's log that this attempt is its)."""
    t, r = models.Trial, models.Run
    for row in _rows(db_url, select(r.id, r.attempt).join(t, t.run_id == r.id)
                     .where(t.experiment_id == experiment_id, t.final.is_(True),
                            r.status == "running")):
        worker = pool.holder(row["id"], row["attempt"])
        if worker is not None and worker.alive:
            return worker
    return None


def assert_studies(db_url: str, rows: list[dict[str, Any]]) -> None:
    """Per optimizer: its budget, then its final runs on the fresh seeds after its search."""
    fresh = set(range(SEED + 1, SEED + FINAL_SEEDS + 1))
    for name in OPTIMIZERS:
        search = [r for r in rows if r["study"] == name and not r["final"]]
        final = [r for r in rows if r["study"] == name and r["final"]]
        assert (len(search), len(final)) == (BUDGET, FINAL_SEEDS), name
        assert all(r["config"]["optimizer"]["name"] == name for r in search + final)
        assert not {r["config"]["training"]["seed"] for r in search} & fresh, name
        assert sorted(r["config"]["training"]["seed"] for r in final) == sorted(fresh), name
        ended = max(r["finished_at"] for r in search)
        assert all(r["created_at"] >= ended for r in final), name
        for row in final:  # neither the run nor any attempt of it (one resumed after a crash)
            outcomes = [a["outcome"] for a in attempts(db_url, row["id"])]
            assert row["status"] != "pruned" and "pruned" not in outcomes, (row["id"], outcomes)


def assert_result(comparison: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """Every optimizer done with its final runs counted once each, re-runs of its best config,
    ranked; every pair tested."""
    for entry in comparison["optimizers"]:
        final = entry["final"]
        assert entry["status"] == "done" and entry["trials"] == BUDGET, entry
        assert final["n"] + final["diverged"] + final["failed"] == FINAL_SEEDS, entry
        assert entry["rank"] is not None, entry
        mine = [r for r in rows if r["study"] == entry["optimizer"]]
        assert entry["best_run_id"] in {r["id"] for r in mine if not r["final"]}, entry
        finals = [r for r in mine if r["final"]]
        assert sorted(entry["final_run_ids"]) == sorted(r["id"] for r in finals), entry
        assert all(r["config"]["optimizer"] == entry["best_config"]["optimizer"]
                   for r in finals), entry
    assert len(comparison["pairs"]) == len(list(combinations(OPTIMIZERS, 2)))


def test_every_optimizer_gets_its_budget_and_final_runs_through_crashes_of_a_worker_and_an_api(
        server, workers, db_url):
    first, second, pool, experiment_id = two_apis_submitting(server, workers, COMPARE)

    def detail() -> dict[str, Any]:
        return first.api.get(f"/api/v1/experiments/{experiment_id}").json()

    wait_until(lambda: sum(detail()["status_counts"].get(s, 0) for s in ENDED) >= 3, 120,
               "three trials to end")
    second.kill()  # mid-search; its workers retry until it is back, the others carry on
    second.start(wait=False)
    victim = wait_until(lambda: final_run_holder(db_url, experiment_id, workers), 120,
                        "a worker to hold a final run")
    victim.kill()  # its final run's lease expires and another worker resumes it
    second.wait_ready()
    wait_until(lambda: comparison_done(detail()), 240, "the comparison to end")

    rows = trial_rows(db_url, experiment_id)
    assert [r["number"] for r in rows] == list(range(RUNS))
    assert all(r["status"] in ENDED for r in rows)
    assert_studies(db_url, rows)
    assert_result(detail()["comparison"], rows)
    assert all(w.alive for w in pool if w is not victim)
