"""The ``optrack`` command."""

from __future__ import annotations

import os

import typer
import uvicorn

from . import migrate
from .db import make_engine
from .settings import Settings

app = typer.Typer(help="optrack: hyperparameter experiment tracking.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.")
app.add_typer(db_app, name="db")


@app.command()
def serve(host: str = typer.Option("127.0.0.1", help="interface to bind (default: local only)"),
          port: int = typer.Option(8000, help="TCP port"),
          database_url: str = typer.Option("", envvar="OPTRACK_DATABASE_URL",
                                           help="SQLAlchemy URL; default SQLite in the data dir"),
          data_dir: str = typer.Option(".optrack", envvar="OPTRACK_DATA_DIR"),
          workers: int = typer.Option(1, help="uvicorn worker processes")) -> None:
    """Start the API (migrating the database first)."""
    settings = Settings(data_dir=data_dir, database_url=database_url, host=host, port=port)
    migrate.upgrade(make_engine(settings.database_url))
    os.environ["OPTRACK_DATABASE_URL"] = settings.database_url
    os.environ["OPTRACK_DATA_DIR"] = str(settings.data_dir)
    uvicorn.run("service.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level="info")


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head"),
               database_url: str = typer.Option("", envvar="OPTRACK_DATABASE_URL"),
               data_dir: str = typer.Option(".optrack", envvar="OPTRACK_DATA_DIR")) -> None:
    """Migrate the database to ``revision`` (default: the latest)."""
    settings = Settings(data_dir=data_dir, database_url=database_url)
    migrate.upgrade(make_engine(settings.database_url), revision)
    typer.echo(f"database at {revision} ({settings.database_url})")


if __name__ == "__main__":
    app()
