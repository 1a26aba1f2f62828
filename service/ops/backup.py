"""Online backups of a SQLite database with SQLite's backup API, safe while the server runs:
the copy is one consistent snapshot (it holds every transaction committed before it began), and
in WAL mode the server's writers carry on meanwhile. PostgreSQL has ``pg_dump`` for that."""

from __future__ import annotations

import os
import sqlite3
import tempfile
from contextlib import closing
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from ..errors import InvalidInput

BUSY_TIMEOUT = 30.0  # seconds to wait for a lock on the source (only a WAL recovery holds one)


def sqlite_path(database_url: str) -> Path | None:
    """The file of a SQLite URL; None for any other database."""
    url = make_url(database_url)
    return Path(url.database) if url.get_backend_name() == "sqlite" else None


def backup_sqlite(source: Path, target: Path) -> int:
    """Copy the database at ``source`` to ``target`` (replaced atomically, never left half
    written), as a self-contained file (no WAL) that passed ``PRAGMA integrity_check``; its
    size in bytes."""
    if not source.is_file():
        raise InvalidInput(f"no SQLite database at {source}")
    if target.exists() and target.resolve() == source.resolve():
        raise InvalidInput("the backup must not overwrite the database itself")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with closing(sqlite3.connect(source, timeout=BUSY_TIMEOUT)) as src, \
                closing(sqlite3.connect(tmp)) as dst:
            src.backup(dst)  # all pages in one step: one read transaction, one snapshot
            dst.execute("PRAGMA journal_mode=DELETE")
            verdict = dst.execute("PRAGMA integrity_check").fetchone()[0]
        if verdict != "ok":
            raise InvalidInput(f"the copy failed its integrity check: {verdict}")
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target.stat().st_size


def pg_dump_advice(database_url: str, target: str) -> str:
    """What to run instead for PostgreSQL (the password left out of the command)."""
    given = make_url(database_url)
    url = URL.create("postgresql", given.username, None, given.host, given.port, given.database,
                     given.query)
    return ("optrack db backup copies SQLite databases; for PostgreSQL use pg_dump, which "
            "also takes a consistent snapshot while the server runs:\n"
            f"  pg_dump --format=custom --file {target} "
            f"'{url.render_as_string(hide_password=False)}'\n"
            "(the password from PGPASSWORD or ~/.pgpass; restore with pg_restore --dbname)")
