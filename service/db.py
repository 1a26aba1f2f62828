"""Engines and sessions. SQLite gets WAL with synchronous=FULL, a busy timeout, foreign keys and
``BEGIN IMMEDIATE`` for write transactions (reads begin deferred); PostgreSQL a pre-pinged
pool."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000


def make_engine(url: str, pool_size: int = 10, max_overflow: int = 20) -> Engine:
    """An engine for ``url`` whose pool keeps ``pool_size`` connections and opens up to
    ``max_overflow`` more under load; SQLite files get their directory created."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_size=pool_size, max_overflow=max_overflow,
                             pool_pre_ping=True)
    if parsed.database in (None, "", ":memory:"):
        raise ValueError("refusing an in-memory SQLite database for the server")
    Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False,
                                              "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
                           pool_size=pool_size, max_overflow=max_overflow)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # FULL: a commit is on disk before the 2xx (NORMAL in WAL mode survives the process
        # dying, not the machine losing power)
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # a write transaction takes the lock up front, so it never fails half-way with
        # "database is locked" when upgrading from a read lock
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def connection_budget(engine: Engine, processes: int, per_process: int) -> str | None:
    """Why ``processes`` API processes, each allowed ``per_process`` connections, may be refused
    connections by this PostgreSQL server (its ``max_connections`` less those reserved for
    superusers); None when they fit, and always on SQLite."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        limit = int(conn.exec_driver_sql("SHOW max_connections").scalar_one())
        reserved = int(conn.exec_driver_sql("SHOW superuser_reserved_connections").scalar_one())
    wanted = processes * per_process
    if wanted <= limit - reserved:
        return None
    return (f"{processes} API process(es) may open up to {wanted} PostgreSQL connections "
            f"({per_process} each: OPTRACK_DB_POOL_SIZE + OPTRACK_DB_MAX_OVERFLOW), more than "
            f"the server's max_connections of {limit} less {reserved} reserved: lower those "
            f"settings or raise max_connections, or requests will fail under load")


def for_reading(engine: Engine) -> Engine:
    """``engine`` beginning SQLite transactions DEFERRED, so reads never wait for the write
    lock."""
    return engine.execution_options(sqlite_begin="DEFERRED")


def session_makers(engine: Engine) -> tuple[sessionmaker[Session], sessionmaker[Session]]:
    """(writer, reader): the reader's sessions are ``for_reading``."""
    writer = sessionmaker(engine, expire_on_commit=False)
    reader = sessionmaker(for_reading(engine), expire_on_commit=False)
    return writer, reader


def insert_for(session: Session):
    """The dialect's ``insert`` (PostgreSQL's or SQLite's), which has ``on_conflict_do_nothing``
    and ``on_conflict_do_update``: upserts written once for both engines."""
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def driver_sql(conn: Connection, statement: str) -> str:
    """``statement``, written with ``?`` placeholders (SQLite's), in the driver's parameter
    style: the hot paths' plain SQL, run by ``exec_driver_sql`` without compiling anything."""
    return statement if conn.dialect.paramstyle == "qmark" else statement.replace("?", "%s")
