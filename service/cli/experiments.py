"""``optrack submit`` (optionally ``--watch``), ``optrack status`` and ``optrack export``: an
experiment over the REST API, through ``optrack.Client``."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from .common import (FORMAT, JSON, JSON_FORMAT, OUTPUT, SERVER, TOKEN, connected, data_format,
                     print_json, read_json_file, save_stream)
from .watch import INTERVAL, watch_experiment


def submit(file: str = typer.Argument(..., help="experiment request JSON, or - for stdin"),
           watch: bool = typer.Option(False, "--watch", help="then watch it until it ends "
                                                             "(as optrack watch)"),
           interval: float = INTERVAL, server: str = SERVER, token: str = TOKEN,
           json_out: bool = JSON) -> None:
    """Send an experiment; prints its id (--json: the API's answer, one JSON line)."""
    body = read_json_file(file)
    with connected(server, token) as client:
        created = client.submit(body)
    if json_out:
        print_json(created)
    else:
        typer.echo(created["id"])
    if watch:
        raise typer.Exit(watch_experiment(server, token, created["id"], json_out, interval))


def status(experiment_id: str, server: str = SERVER, token: str = TOKEN,
           json_out: bool = JSON) -> None:
    """Runs of an experiment per state (--json: the API's experiment view)."""
    with connected(server, token) as client:
        detail = client.experiment(experiment_id)
    if json_out:
        print_json(detail)
        return
    table = Table(title=detail["name"])
    table.add_column("state")
    table.add_column("runs", justify="right")
    for state, count in sorted(detail["status_counts"].items()):
        table.add_row(state, str(count))
    Console().print(table)


def export(experiment_id: str, format: str = FORMAT, output: str = OUTPUT,
           table: str = typer.Option(None, help="runs, or comparison (a comparison's default: "
                                                "one row per optimizer)"),
           server: str = SERVER, token: str = TOKEN, json_out: bool = JSON_FORMAT) -> None:
    """An experiment's runs, one row each (flattened config, final metrics), streamed."""
    chosen = data_format(format, json_out)
    with connected(server, token) as client:
        save_stream(lambda out: client.export_experiment(experiment_id, out, chosen, table),
                    output)


def register(app: typer.Typer) -> None:
    app.command()(submit)
    app.command()(status)
    app.command()(export)
