"""Schema migrations (Alembic), run once under a lock: PostgreSQL's advisory lock, or a file
lock beside the SQLite database, so that several API processes starting together migrate once."""

from __future__ import annotations

import contextlib
import fcntl
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
ADVISORY_LOCK_KEY = 0x6F70747261636B  # "optrack"


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def include_for(dialect: str):
    """Alembic's ``include_object`` for a database of ``dialect``: leaves out the schema items
    the models create only on other engines (``Index(...).ddl_if(dialect=...)``, such as
    PostgreSQL's GIN index on runs.config), which autogenerate would otherwise report missing
    (it does not read ``ddl_if``)."""
    def include(obj, name, type_, reflected, compare_to) -> bool:
        only = getattr(obj, "_ddl_if", None)  # set by SchemaItem.ddl_if
        if only is None or only.dialect is None:
            return True
        return dialect in ((only.dialect,) if isinstance(only.dialect, str) else only.dialect)
    return include


def head() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def at_head(conn: Connection) -> bool:
    return MigrationContext.configure(conn).get_current_revision() == head()


def upgrade(engine: Engine, revision: str = "head") -> None:
    with _lock(engine), engine.connect() as conn:
        command.upgrade(alembic_config(conn), revision)
        conn.commit()


def downgrade(engine: Engine, revision: str = "base") -> None:
    with _lock(engine), engine.connect() as conn:
        command.downgrade(alembic_config(conn), revision)
        conn.commit()


@contextlib.contextmanager
def _lock(engine: Engine):
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": ADVISORY_LOCK_KEY})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_LOCK_KEY})
        return
    path = Path(engine.url.database).with_suffix(".migrate.lock")
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
