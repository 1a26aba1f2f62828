"""Operating commands: ``optrack db backup``, and the metrics directory ``optrack serve`` gives
its uvicorn processes."""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import typer

from ..errors import OptrackError
from ..ops import MULTIPROC_ENV, backup
from ..settings import Settings


def register(db_app: typer.Typer) -> None:
    db_app.command("backup")(db_backup)


def db_backup(path: Path = typer.Argument(..., help="where to write the copy (replaced)"),
              database_url: str = typer.Option("", envvar="OPTRACK_DATABASE_URL"),
              data_dir: str = typer.Option(".optrack", envvar="OPTRACK_DATA_DIR")) -> None:
    """Copy the SQLite database to PATH while the server runs (SQLite's online backup API);
    for PostgreSQL print the pg_dump command to use and exit with 2."""
    settings = Settings(data_dir=data_dir, database_url=database_url)
    source = backup.sqlite_path(settings.database_url)
    if source is None:
        typer.echo(backup.pg_dump_advice(settings.database_url, str(path)), err=True)
        raise typer.Exit(2)
    try:
        size = backup.backup_sqlite(source, path)
    except OptrackError as exc:
        typer.echo(f"backup failed: {exc.message}", err=True)
        raise typer.Exit(1)
    typer.echo(f"backed up {source} to {path} ({size} bytes, integrity ok); checkpoints are "
               f"files in {settings.data_dir / 'checkpoints'}: copy them too")


@contextmanager
def metrics_directory(data_dir: Path) -> Iterator[Path]:
    """A fresh directory under ``data_dir`` for the uvicorn processes' metric files, named in
    PROMETHEUS_MULTIPROC_DIR (read when prometheus_client is first imported: the processes
    inherit it), removed when the server stops."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="metrics-", dir=data_dir))
    os.environ[MULTIPROC_ENV] = str(path)
    try:
        yield path
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(path, ignore_errors=True)
