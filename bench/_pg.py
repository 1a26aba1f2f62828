"""PostgreSQL databases of the benchmarks' own, by name (unlike the harness's temporary ones,
they may outlive a run), and their connections."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from tests.harness import PG_ADMIN_URL


def admin_engine():
    """Connected to the server's ``postgres`` database: never to one a benchmark measures."""
    url = make_url(PG_ADMIN_URL).set(database="postgres")
    return create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)


@contextmanager
def database(name: str, keep: bool) -> Iterator[str]:
    """The URL of database ``name`` (created if missing), dropped at the end unless ``keep``."""
    admin = admin_engine()
    with admin.connect() as conn:
        if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}):
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        if not keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def connections(conn, name: str) -> int:
    """How many sessions are connected to database ``name`` now (``conn``: an admin
    connection, on another database)."""
    return conn.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE datname = :n"),
                       {"n": name})
