"""API fixtures: the real app on a real database (SQLite file or PostgreSQL), migrated on start,
driven through FastAPI's TestClient. Helpers for the tests live here too.

``client`` / ``make_client`` get an empty database per test (the ``db_url`` fixture).
``shared_client`` is one app per engine for a whole test module, on a database of its own, for
the many hostile-input cases that only look at one response each (a fresh database per case
would cost most of the suite's time); tests on it compare row counts before and after."""

from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from ..conftest import assert_error, assert_mlflow_error  # noqa: F401 (re-exported)
from ..harness import ALL_SCOPES, Settings, create_app, models, superuser_token

# a small, valid experiment: 4 optimizers x 3 seeds = 12 runs
FOUR_OPTIMIZERS = [{"name": "sgd", "lr": 0.1}, {"name": "momentum", "lr": 0.05},
                   {"name": "adagrad", "lr": 0.5}, {"name": "adam", "lr": 0.001}]
TABLES = (models.Project, models.Experiment, models.Run, models.RunTag, models.Metric,
          models.LatestMetric)


def experiment_request(**overrides: Any) -> dict[str, Any]:
    body = {"name": "optimizers on spiral", "project": "default", "tags": ["ch6"],
            "dataset": {"name": "spiral"}, "model": {"kind": "mlp", "hidden": [16, 16]},
            "optimizer": FOUR_OPTIMIZERS, "training": {"epochs": 2, "seed": [0, 1, 2]}}
    body.update(overrides)
    return body


def count_rows(app, model) -> int:
    with app.state.reader() as session:
        return session.scalar(select(func.count()).select_from(model))


def all_counts(app) -> dict[str, int]:
    """Rows per table, to prove a rejected request wrote nothing."""
    return {model.__tablename__: count_rows(app, model) for model in TABLES}


def set_status(app, run_ids: list[str], status: str) -> None:
    """Move runs to ``status`` directly in the database (workers are not part of these tests)."""
    with app.state.writer() as session:
        session.execute(update(models.Run).where(models.Run.id.in_(run_ids))
                        .values(status=status))
        session.commit()


def _start(settings: Settings) -> TestClient:
    """The app over ``settings``' database, and a client that signs its requests with a token
    of a superuser with every scope; tests of authentication itself replace or drop it."""
    client = TestClient(create_app(settings))
    client.__enter__()
    client.headers.update(superuser_headers(client.app, ALL_SCOPES))
    return client


def superuser_headers(app, scopes=("read", "write", "admin")) -> dict[str, str]:
    """Authorization headers of a new superuser's token on ``app``'s database."""
    return {"authorization": f"Bearer {superuser_token(app.state.engine, scopes)}"}


def _stop(client: TestClient) -> None:
    client.__exit__(None, None, None)
    client.app.state.engine.dispose()


@pytest.fixture
def make_client(db_url, tmp_path) -> Iterator[Callable[..., TestClient]]:
    """Factory: ``make_client(max_runs_per_experiment=3)`` → a TestClient on a fresh app with
    those settings over the test's database (``client.app`` is the app). Every engine is
    disposed at teardown so the PostgreSQL database can be reset for the next test."""
    made: list[TestClient] = []

    def make(**settings: Any) -> TestClient:
        made.append(_start(Settings(data_dir=tmp_path, database_url=db_url, **settings)))
        return made[-1]

    yield make
    for client in reversed(made):
        _stop(client)


@pytest.fixture
def client(make_client) -> TestClient:
    """A TestClient on the app with default settings, on an empty database."""
    return make_client()


@pytest.fixture(scope="module")
def shared_client(module_db_url, tmp_path_factory) -> Iterator[TestClient]:
    """One app per engine for the whole module, on a database of its own."""
    client = _start(Settings(data_dir=tmp_path_factory.mktemp("shared"),
                             database_url=module_db_url))
    yield client
    _stop(client)
