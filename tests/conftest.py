"""Shared fixtures: real databases (``temp_database`` of tests/harness). SQLite is a file in
a temporary directory; PostgreSQL a fresh database on the server OPTRACK_TEST_PG_URL names (by
default 127.0.0.1:5432, user postgres). PostgreSQL tests are skipped only when the server is
unreachable *and* OPTRACK_REQUIRE_PG is unset; .ci/run sets it, so in CI an unreachable
PostgreSQL is a failure, not a skip."""

from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from .harness import ENGINES, DatabaseUnavailable, engine_with_tables, temp_database


def assert_error(response, status: int, code: str | None = None) -> dict:
    """The response is ``status`` with the one error shape; returns the ``error`` object."""
    assert response.status_code == status, (response.status_code, response.text[:2000])
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], list)
    if code is not None:
        assert error["code"] == code, error
    return error


def assert_mlflow_error(response, status: int, code: str | None = None) -> str:
    """The response is ``status`` with MLflow's error shape (the MLflow-compatible API);
    returns the message."""
    assert response.status_code == status, (response.status_code, response.text[:2000])
    body = response.json()
    assert set(body) == {"error_code", "message"}, body
    assert isinstance(body["message"], str) and body["message"]
    if code is not None:
        assert body["error_code"] == code, body
    return body["message"]


def database_for(request, engine: str, directory: Path | None = None) -> str:
    """``temp_database(engine, directory)`` for as long as the fixture of ``request`` lasts;
    an unreachable PostgreSQL skips the test, or fails it under OPTRACK_REQUIRE_PG."""
    stack = ExitStack()
    try:
        url = stack.enter_context(temp_database(engine, directory))
    except DatabaseUnavailable as exc:
        if os.environ.get("OPTRACK_REQUIRE_PG"):
            raise
        pytest.skip(str(exc))
    request.addfinalizer(stack.close)
    return url


@pytest.fixture(scope="session")
def pg_server_url(request):
    """URL of a database of our own on the PostgreSQL server, dropped at the end."""
    return database_for(request, "postgresql")


@pytest.fixture(params=ENGINES)
def db_url(request, tmp_path):
    """A database URL for each engine, empty (no tables) at the start of each test."""
    if request.param == "sqlite":
        return database_for(request, "sqlite", tmp_path)
    url = request.getfixturevalue("pg_server_url")
    _reset_postgres(url)
    return url


def _reset_postgres(url: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="module", params=ENGINES)
def module_db_url(request, tmp_path_factory) -> str:
    """A database of its own for a whole module (a server or an app shared by the module's
    tests), never reset by ``db_url``."""
    directory = tmp_path_factory.mktemp("db") if request.param == "sqlite" else None
    return database_for(request, request.param, directory)


@pytest.fixture
def engine(db_url):
    """An engine with the models' tables created (migrations are tested on their own)."""
    eng = engine_with_tables(db_url)
    yield eng
    eng.dispose()
