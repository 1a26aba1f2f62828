"""Shared fixtures: real databases. SQLite is a file in a temporary directory; PostgreSQL is a
fresh database created on the local server (127.0.0.1:5432, user postgres) for the session.
PostgreSQL tests are skipped only when the server is unreachable *and* OPTRACK_REQUIRE_PG is
unset; .ci/run sets it, so in CI an unreachable PostgreSQL is a failure, not a skip."""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine, text

PG_ADMIN_URL = os.environ.get("OPTRACK_TEST_PG_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ENGINES = ["sqlite", "postgresql"]


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


@pytest.fixture(scope="session")
def pg_server_url():
    """URL of a database of our own on the PostgreSQL server, dropped at the end."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # unreachable server
        admin.dispose()
        if os.environ.get("OPTRACK_REQUIRE_PG"):
            raise
        pytest.skip(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc}")
    name = f"optrack_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=ENGINES)
def db_url(request, tmp_path):
    """A database URL for each engine, empty (no tables) at the start of each test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'optrack.db'}"
        return
    url = request.getfixturevalue("pg_server_url")
    _reset_postgres(url)
    yield url


def _reset_postgres(url: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture
def engine(db_url):
    """An engine with the models' tables created (migrations are tested on their own)."""
    from service.db import make_engine
    from service.models import Base

    eng = make_engine(db_url)
    Base.metadata.create_all(eng)
    yield eng
    eng.dispose()


def superuser_token(db_url: str, scopes: tuple[str, ...] = ("read", "write", "admin")) -> str:
    """A new superuser with a token of ``scopes`` on a migrated database (for tests that
    start the server as a process: every route but health needs a token)."""
    from sqlalchemy.orm import Session

    from service.auth import accounts as admin
    from service.db import make_engine

    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            user = admin.add_user(session, "cli", f"su-{uuid.uuid4().hex[:8]}", superuser=True)
            _, secret = admin.create_token(session, "cli", user, "tests", list(scopes))
            session.commit()
    finally:
        engine.dispose()
    return secret
