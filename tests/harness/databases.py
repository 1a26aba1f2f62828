"""Empty databases that last as long as a ``with`` block: a SQLite file, or a database of its
own on the PostgreSQL server named by OPTRACK_TEST_PG_URL."""

from __future__ import annotations

import os
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

PG_ADMIN_URL = os.environ.get("OPTRACK_TEST_PG_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ENGINES = ("sqlite", "postgresql")


class DatabaseUnavailable(RuntimeError):
    """The PostgreSQL server does not answer (tests decide whether that is a skip)."""


@contextmanager
def temp_database(engine: str, directory: str | os.PathLike | None = None,
                  prefix: str = "optrack_test") -> Iterator[str]:
    """The URL of a new, empty database, removed when the block ends: for ``"sqlite"`` a file
    in ``directory`` (left for its owner to remove) or in a temporary directory of its own; for
    ``"postgresql"`` ``<prefix>_<random>`` on the server, dropped even with sessions still
    connected (a killed server's or worker's)."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if engine == "sqlite":
        if directory is not None:
            yield _sqlite_url(Path(directory))
            return
        with tempfile.TemporaryDirectory(prefix="optrack-db-") as tmp:
            yield _sqlite_url(Path(tmp))
        return
    # NullPool: a pooled admin connection would not survive a PostgreSQL restart (a test
    # makes one) and the DROP at the end would fail on it
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 — refused, no driver, bad URL: all "unavailable"
        raise DatabaseUnavailable(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: "
                                  f"{exc}") from exc
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _sqlite_url(directory: Path) -> str:
    return f"sqlite:///{(directory / 'optrack.db').as_posix()}"


def database_bytes(url: str) -> int:
    """The database's size on disk (for SQLite with its WAL and shared-memory files)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database)
        return sum(p.stat().st_size for p in path.parent.glob(f"{path.name}*"))
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return conn.scalar(text("SELECT pg_database_size(current_database())"))
    finally:
        engine.dispose()
