"""Every name tests and benchmarks take from service/ outside the test files themselves: when a
service module moves, the imports here are what change (and ``APP_FACTORY``, the server's entry
point spelled as a string)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterable, Iterator

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from service import migrate, models
from service.app import create_app
from service.auth import accounts
from service.db import make_engine
from service.cli.demo import TRAJECTORIES
from service.tracking.ingest import record_metrics as _record_metrics
from service.settings import Settings

__all__ = ["ALL_SCOPES", "APP_FACTORY", "Settings", "TRAJECTORIES", "create_app",
           "engine_with_tables", "make_engine", "migrate_database", "models", "record_metrics",
           "record_many_runs", "superuser_token"]

APP_FACTORY = "service.app:app_from_env"
ALL_SCOPES: tuple[str, ...] = tuple(models.SCOPES)


@contextmanager
def _session(engine_or_url: Engine | str) -> Iterator[Session]:
    """A session in a transaction, committed at the end; an engine made here from a URL is
    disposed of, one passed in is left open."""
    engine = make_engine(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
    try:
        with Session(engine) as session, session.begin():
            yield session
    finally:
        if engine is not engine_or_url:
            engine.dispose()


def superuser_token(engine_or_url: Engine | str,
                    scopes: Iterable[str] = ("read", "write", "admin")) -> str:
    """The secret of a token of ``scopes`` for a new superuser, made on a migrated database
    (every route but the health checks wants a token)."""
    with _session(engine_or_url) as session:
        user = accounts.add_user(session, "cli", f"su-{models.new_id()[:8]}", superuser=True)
        _, secret = accounts.create_token(session, "cli", user, "harness", list(scopes))
    return secret


def migrate_database(url: str) -> None:
    """Bring the database to the latest schema, as the server does when it starts."""
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()


def engine_with_tables(url: str) -> Engine:
    """An engine on ``url`` with the models' tables created directly (no migrations)."""
    engine = make_engine(url)
    models.Base.metadata.create_all(engine)
    return engine


def record_metrics(engine_or_url: Engine | str, run_id: str,
                   points: Iterable[tuple[str, int, float, float]]) -> int:
    """Store (key, step, value, time) points of one run through the service's own ingest
    function, rollups included, in one transaction; how many were new."""
    with _session(engine_or_url) as session:
        return _record_metrics(session, run_id, points)


def record_many_runs(engine: Engine,
                     points_by_run: dict[str, Iterable[tuple[str, int, float, float]]]) -> int:
    """``record_metrics`` for several runs in one transaction (a bulk load's batch: the same
    ingest function per run, one commit for all); how many points were new."""
    with _session(engine) as session:
        return sum(_record_metrics(session, run_id, points)
                   for run_id, points in points_by_run.items())
