"""``optrack runs`` (search runs, as a table) and ``optrack metrics`` (a run's full-resolution
history, streamed), over the REST API through ``optrack.Client``."""

from __future__ import annotations

import re
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from .common import (FORMAT, JSON, JSON_FORMAT, OUTPUT, SERVER, TOKEN, connected, data_format,
                     print_json, save_stream)

# metric columns of the table when present, after the one the runs are ordered by
METRIC_COLUMNS = ("val_accuracy", "val_loss", "train_loss")


def runs(experiment: str = typer.Option(None, "--experiment", help="only this experiment's"),
         filter: str = typer.Option(None, "--filter",
                                    help="query, e.g. \"optimizer = 'adam' and lr < 0.01\""),
         order_by: str = typer.Option(None, "--order-by",
                                      help="e.g. 'metrics.val_accuracy desc'"),
         limit: int = typer.Option(50, "--limit", min=1, help="at most this many runs"),
         server: str = SERVER, token: str = TOKEN, json_out: bool = JSON) -> None:
    """Search runs with the query language (--json: a JSON array of the API's run views)."""
    with connected(server, token) as client:
        found = list(client.iter_runs(limit=limit, filter=filter, order_by=order_by,
                                      experiment=experiment))
    if json_out:
        print_json(found)
    else:
        Console().print(runs_table(found, order_by))


def runs_table(found: list[dict[str, Any]], order_by: str | None) -> Table:
    """id, name, status, optimizer, lr, progress and the latest values of the metrics that
    matter (the ordering one first)."""
    wanted = re.findall(r"metrics\.([\w.\-/]+)", order_by or "") + list(METRIC_COLUMNS)
    keys = [k for k in dict.fromkeys(wanted) if any(k in r["metrics"] for r in found)]
    table = Table(caption=f"{len(found)} run(s)")
    for column in ("id", "name", "status", "optimizer", "lr", "step", *keys):
        table.add_column(column, no_wrap=column == "id",
                         justify="right" if column in ("lr", "step", *keys) else "left")
    for run in found:
        optimizer = run["config"].get("optimizer")  # an external run's config is anything
        if not isinstance(optimizer, dict):
            optimizer = {"name": optimizer}
        table.add_row(run["id"], run["name"], run["status"], number(optimizer.get("name")),
                      number(optimizer.get("lr")), progress(run),
                      *(number(run["metrics"].get(k)) for k in keys))
    return table


def number(value: Any) -> str:
    """A metric or hyperparameter for a table: 4 significant digits, "" when absent."""
    if value is None:
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def progress(run: dict[str, Any]) -> str:
    step, total = run.get("step"), run.get("total_steps")
    if total is None:
        return "" if step is None else str(step)
    return f"{step or 0}/{total}"


def metrics(run_id: str,
            key: list[str] = typer.Option(None, "--key", help="this key only (repeatable; "
                                                               "default: every key)"),
            format: str = FORMAT, output: str = OUTPUT, server: str = SERVER,
            token: str = TOKEN, json_out: bool = JSON_FORMAT) -> None:
    """Every point a run logged (key, step, value, time), not downsampled, streamed."""
    chosen = data_format(format, json_out)
    with connected(server, token) as client:
        save_stream(lambda out: client.export_metrics(run_id, out, key, chosen), output)


def register(app: typer.Typer) -> None:
    app.command()(runs)
    app.command()(metrics)
