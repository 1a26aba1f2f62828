"""End-to-end fixtures for the queue and the workers: real processes, real databases, started by
the harness (tests/harness).

``server(**settings)`` starts the API as its own process over the test's database (``db_url``:
a SQLite file or a fresh PostgreSQL schema), with short leases; the returned ``Server`` can be
killed with SIGKILL and started again on the same port and database. ``workers(server, n)``
starts ``python -m worker`` processes whose log lines the tests read. Everything started is
stopped at teardown, workers before the server (``shared_server``: one server for a whole
module, on a database of its own from ``module_db_url``). The runs' reference trainings are in
reference.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.pool import NullPool

from ..harness import Server, Workers, models
from ..harness.internals import APP_FACTORY

# settings of every test server unless a test says otherwise: short leases, quick retries, and
# lease calls that long-poll for at most a second (a killed worker's pending lease call could
# otherwise still claim a run for up to 10 s; see test_crash_recovery)
DEFAULT_SETTINGS = {"lease_seconds": 2, "retry_backoff_seconds": 0.1, "max_attempts": 3,
                    "lease_wait_seconds": 1}

# small configs (seconds on this machine)
SPIRAL = {"name": "spiral", "samples": 100}
FOUR_OPTIMIZERS = [{"name": "sgd", "lr": 0.1}, {"name": "momentum", "lr": 0.05},
                   {"name": "adagrad", "lr": 0.5}, {"name": "adam", "lr": 0.01}]


def long_run(epochs: int = 30, **training: Any) -> dict[str, Any]:
    """A run of ~3 s of training (360 steps of 8 ms), checkpointed every 25 steps: long enough
    to interrupt it after its first checkpoints while it still trains (the worker uploads in a
    thread of its own, so training is not slowed down by the uploads)."""
    return {"name": "long", "dataset": "digits",
            "model": {"kind": "mlp", "hidden": [512, 512]},
            "optimizer": {"name": "sgd", "lr": 0.05},
            "training": {"epochs": epochs, "batch_size": 128, "checkpoint_every": 25,
                         **training}}


def small_run(name: str = "small", **training: Any) -> dict[str, Any]:
    return {"name": name, "dataset": SPIRAL, "model": {"kind": "mlp", "hidden": [16]},
            "optimizer": {"name": "adam", "lr": 0.01}, "training": {"epochs": 3, **training}}


@pytest.fixture
def server(db_url, tmp_path) -> Iterator[Callable[..., Server]]:
    """Factory: ``server(lease_seconds=60)`` → a running Server over the test's database.
    ``server(wait=False)`` returns at once (start the workers, then ``srv.wait_ready()``)."""
    started: list[Server] = []

    def make(wait: bool = True, factory: str = APP_FACTORY, **settings: Any) -> Server:
        srv = Server(db_url, tmp_path, {**DEFAULT_SETTINGS, **settings},
                     name=f"server-{len(started)}", factory=factory)
        started.append(srv)
        return srv.start(wait=wait)

    yield make
    for srv in started:
        srv.stop()


def shared_server(db_url: str, data_dir: Path, **settings: Any) -> Iterator[Server]:
    """Body of a module-scoped server fixture: ``yield from shared_server(…)``."""
    srv = Server(db_url, data_dir, {**DEFAULT_SETTINGS, **settings}, shared=True)
    try:
        yield srv.start()
    finally:
        srv.stop()


@pytest.fixture
def workers(tmp_path) -> Iterator[Workers]:
    """Factory: ``workers(srv, 2)`` → two worker processes, stopped at teardown (tests ask for
    ``server`` first, so its teardown, which runs last, finds no worker left). Workers of a
    server that outlives the test get SIGTERM, so that no lease call of theirs is left pending
    in the server (it would hand the next test's run to a dead worker); the others SIGKILL."""
    pool = Workers(tmp_path)
    yield pool
    pool.stop(graceful=lambda w: w.srv.shared)


def two_apis_submitting(server, workers, body: dict[str, Any]) -> tuple[Server, Server, list, str]:
    """Two API processes over the test's database with two workers each, and ``body``
    submitted through the first: (first, second, the workers, the experiment's id)."""
    first, second = server(wait=False), server(wait=False)
    pool = workers(first, 2) + workers(second, 2)
    first.wait_ready()
    second.wait_ready()
    created = first.api.post("/api/v1/experiments", json=body)
    assert created.status_code == 201, created.text
    return first, second, pool, created.json()["id"]


# -- direct database reads (the attempts history has no API) -----------------------------------

def _rows(db_url: str, query) -> list[dict[str, Any]]:
    engine = create_engine(db_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query).all()]
    finally:
        engine.dispose()


def attempts(db_url: str, run_id: str) -> list[dict[str, Any]]:
    """The run's rows of run_attempts, in order."""
    a = models.RunAttempt
    return _rows(db_url, select(a.attempt, a.worker_id, a.outcome, a.ended_at, a.error)
                 .where(a.run_id == run_id).order_by(a.attempt))


def run_row(db_url: str, run_id: str) -> dict[str, Any]:
    (row,) = _rows(db_url, select(models.Run.__table__).where(models.Run.id == run_id))
    return row
