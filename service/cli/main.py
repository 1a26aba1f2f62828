"""The ``optrack`` command: serve, up (everything on one machine), worker, sync, db; the
commands of ``experiments.py`` (submit, status, export), ``runs.py`` (runs, metrics) and
``watch.py`` over the REST API; and the administration commands of ``accounts.py``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import typer
import uvicorn

from .. import migrate
from ..db import connection_budget, make_engine
from ..ops.logs import uvicorn_config
from ..settings import Settings
from optrack import ApiError, Client, Unreachable
from . import experiments, runs, watch
from .accounts import register as register_accounts
from .datasets import register as register_datasets
from .common import TOKEN
from .demo import EXPERIMENTS as DEMO_EXPERIMENTS
from .local import local_credentials
from .ops import metrics_directory, register as register_ops

app = typer.Typer(help="optrack: hyperparameter experiment tracking.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema and backups.")
app.add_typer(db_app, name="db")
register_accounts(app)
register_datasets(app)
experiments.register(app)
runs.register(app)
watch.register(app)
register_ops(db_app)


@app.command()
def serve(host: str = typer.Option("127.0.0.1", help="interface to bind (default: local only)"),
          port: int = typer.Option(8000, help="TCP port"),
          database_url: str = typer.Option("", envvar="OPTRACK_DATABASE_URL",
                                           help="SQLAlchemy URL; default SQLite in the data dir"),
          data_dir: str = typer.Option(".optrack", envvar="OPTRACK_DATA_DIR"),
          workers: int = typer.Option(1, help="uvicorn worker processes")) -> None:
    """Start the API (migrating the database first)."""
    settings = Settings(data_dir=data_dir, database_url=database_url, host=host, port=port)
    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    warning = connection_budget(engine, workers, settings.db_pool_size + settings.db_max_overflow)
    engine.dispose()
    if warning:
        typer.echo(f"warning: {warning}", err=True)
    os.environ["OPTRACK_DATABASE_URL"] = settings.database_url
    os.environ["OPTRACK_DATA_DIR"] = str(settings.data_dir)
    with metrics_directory(settings.data_dir):
        uvicorn.run("service.app:app_from_env", factory=True, host=host, port=port,
                    workers=workers, log_level="info",
                    log_config=uvicorn_config(settings.log_format))


@app.command()
def up(host: str = typer.Option("127.0.0.1", help="interface to bind"),
       port: int = typer.Option(8000, help="TCP port of the API"),
       workers: int = typer.Option(os.cpu_count() or 1, help="worker processes"),
       data_dir: str = typer.Option(".optrack", envvar="OPTRACK_DATA_DIR"),
       database_url: str = typer.Option("", envvar="OPTRACK_DATABASE_URL"),
       demo: bool = typer.Option(False, help="also submit the book's chapter-6 experiments")):
    """Everything on one machine: migrate, start the API and N workers; Ctrl-C stops all."""
    settings = Settings(data_dir=data_dir, database_url=database_url, host=host, port=port)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    url = f"http://{host}:{port}"
    creds = local_credentials(engine, url)
    env = dict(os.environ, OPTRACK_DATABASE_URL=settings.database_url,
               OPTRACK_DATA_DIR=str(settings.data_dir), OPTRACK_MIGRATE_ON_START="false")
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory",
                               "service.app:app_from_env", "--host", host, "--port", str(port),
                               "--log-level", "warning"], env=env)
    _wait_healthy(url, server)
    pool = subprocess.Popen([sys.executable, "-m", "worker", "--server", url,
                             "--concurrency", str(workers)],
                            env=dict(env, OPTRACK_TOKEN=creds.worker_token))
    typer.echo(f"optrack is up: dashboard and API {url}, {workers} worker(s), "
               f"database {settings.database_url}")
    typer.echo(creds.message)
    typer.echo(f"sign in to the dashboard (one-time link, 15 minutes): {creds.login_link}")
    try:
        if demo:
            _submit_demo(url, creds.demo_token)
    finally:
        _wait_and_stop(server, pool)
        creds.revoke(engine)
        engine.dispose()


def _submit_demo(url: str, token: str) -> None:
    with Client(url, token, give_up_after=60) as client:
        for experiment in DEMO_EXPERIMENTS:
            try:
                typer.echo(f"submitted {experiment['name']!r}: {client.submit(experiment)['id']}")
            except (ApiError, Unreachable) as exc:
                typer.echo(f"could not submit {experiment['name']!r}: {exc}")


def _wait_healthy(url: str, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise typer.Exit(f"the API exited with {server.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.terminate()
    raise typer.Exit("the API did not come up")


def _wait_and_stop(server: subprocess.Popen, pool: subprocess.Popen) -> None:
    stopping = []

    def stop(_signum, _frame):
        stopping.append(True)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping and server.poll() is None and pool.poll() is None:
        time.sleep(0.2)
    pool.send_signal(signal.SIGTERM)  # workers checkpoint and release their runs
    try:
        pool.wait(timeout=60)
    except subprocess.TimeoutExpired:
        pool.kill()
    server.terminate()
    server.wait(timeout=30)


@app.command()
def worker(server: str = typer.Option("http://127.0.0.1:8000", envvar="OPTRACK_SERVER"),
           token: str = typer.Option(None, envvar="OPTRACK_TOKEN"),
           concurrency: int = typer.Option(1, help="worker processes")) -> None:
    """Run workers against a server (on this machine or any other)."""
    from worker.__main__ import main
    args = ["--server", server, "--concurrency", str(concurrency)]
    raise typer.Exit(main(args + (["--token", token] if token else [])))


@app.command()
def sync(server: str = typer.Option(None, envvar="OPTRACK_SERVER",
                                    help="upload here (default: the server each run was "
                                         "logged for)"),
         token: str = TOKEN) -> None:
    """Upload the runs the SDK spooled offline (exactly once; running it again is harmless)."""
    import optrack
    from optrack.spool import spool_dir

    try:
        done = optrack.sync(server, token)
    except (ApiError, Unreachable) as exc:
        typer.echo(f"sync stopped: {exc}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{len(done)} run(s) uploaded and finished from {spool_dir()}")
    for run_id in done:
        typer.echo(run_id)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head"),
               database_url: str = typer.Option("", envvar="OPTRACK_DATABASE_URL"),
               data_dir: str = typer.Option(".optrack", envvar="OPTRACK_DATA_DIR")) -> None:
    """Migrate the database to ``revision`` (default: the latest)."""
    settings = Settings(data_dir=data_dir, database_url=database_url)
    migrate.upgrade(make_engine(settings.database_url), revision)
    typer.echo(f"database at {revision} ({settings.database_url})")
