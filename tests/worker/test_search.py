"""An adaptive search with early stopping on real processes, both engines: two API processes
over one database, four workers, a worker SIGKILLed and an API process SIGKILLed mid-search.
The search still runs exactly its trials, numbered once each, and a pruned trial stops within
one evaluation of the pruner's decision with its metrics kept."""

from __future__ import annotations

from sqlalchemy import create_engine, select
from sqlalchemy.pool import NullPool

from ..harness import models, wait_until
from .conftest import SPIRAL, two_apis_submitting

TRIALS, EPOCHS = 14, 6
SEARCH = {"name": "tpe + asha", "dataset": SPIRAL, "model": {"kind": "mlp", "hidden": [16]},
          "optimizer": {"name": "adam"}, "training": {"epochs": EPOCHS},
          "search": {"method": "tpe", "trials": TRIALS, "parallelism": 4, "seed": 3,
                     "objective": {"metric": "val_loss", "mode": "min"},
                     "space": {"optimizer.lr": {"log_uniform": [1e-4, 3.0]},
                               "optimizer.name": {"choice": ["sgd", "adam"]}},
                     "pruner": {"name": "asha", "min_resource": 1, "reduction_factor": 2}}}


def trial_numbers(db_url: str, experiment_id: str) -> list[int]:
    engine = create_engine(db_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return list(conn.scalars(select(models.Trial.number)
                                     .where(models.Trial.experiment_id == experiment_id)
                                     .order_by(models.Trial.number)))
    finally:
        engine.dispose()


def test_a_search_runs_exactly_its_trials_through_crashes_of_a_worker_and_an_api(
        server, workers, db_url):
    first, second, pool, experiment_id = two_apis_submitting(server, workers, SEARCH)

    def search() -> dict:
        return first.api.get(f"/api/v1/experiments/{experiment_id}").json()["search"]

    victim = wait_until(lambda: next((w for w in pool if w.leases()), None), 60,
                        "a worker to lease a trial")
    victim.kill()  # its trial's lease expires and another worker resumes it
    wait_until(lambda: search()["done"] >= 3, 120, "three trials to end")
    second.kill()  # its workers retry until it is back
    second.start()
    wait_until(lambda: search()["done"] == TRIALS, 240, f"all {TRIALS} trials to end")

    detail = first.api.get(f"/api/v1/experiments/{experiment_id}").json()
    assert len(detail["run_ids"]) == TRIALS and sum(detail["status_counts"].values()) == TRIALS
    assert set(detail["status_counts"]) <= {"succeeded", "pruned"}, detail["status_counts"]
    assert trial_numbers(db_url, experiment_id) == list(range(TRIALS))
    summary = detail["search"]
    assert (summary["in_flight"], summary["pruned"]) == (0, detail["status_counts"].get("pruned", 0))
    assert summary["pruned"] > 0, "ASHA pruned nothing: the search does not show early stopping"
    assert summary["best_run_id"] in detail["run_ids"]

    for run_id in detail["run_ids"]:
        run = first.run(run_id)
        if run["status"] != "pruned":
            assert first.points(run_id, "val_loss") == EPOCHS
            continue
        evaluations = first.points(run_id, "val_loss")  # kept up to the decision, no further
        assert 1 <= evaluations < EPOCHS
        steps_per_epoch = run["total_steps"] // EPOCHS
        # the worker learns of the decision from the answer to the report that caused it
        assert first.max_step(run_id) < (evaluations + 1) * steps_per_epoch, run_id
    assert all(w.alive for w in pool if w is not victim)
