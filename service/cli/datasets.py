"""``optrack datasets push|list|show|delete``: dataset files shared through the server, over
its API (from any machine with a token). A pushed file is named in any run of its project as
``{"name": "file", "dataset": "NAME"}``; workers fetch it once per machine."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from .common import SERVER, TOKEN, connected

datasets_app = typer.Typer(help="Dataset files shared through the server.", no_args_is_help=True)

PROJECT = typer.Option("default", "--project", "-p", help="the dataset's project")
GIVE_UP_AFTER = 30.0  # seconds of an unreachable server before the command fails


def register(app: typer.Typer) -> None:
    app.add_typer(datasets_app, name="datasets")


def _client(server: str | None, token: str | None):
    """The API client; a refusal or an absent server exits with 1 and the server's message."""
    return connected(server, token, GIVE_UP_AFTER)


def _classes(record: dict) -> str:
    return "regression only" if record["classes"] is None else f"{record['classes']} classes"


@datasets_app.command()
def push(file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True,
                                     help=".npz (arrays x, y) or .csv (a header row)"),
         project: str = PROJECT,
         name: str = typer.Option(None, help="default: the file's name"),
         label: str = typer.Option(None, help="a .csv file's label column (default: the last)"),
         server: str = SERVER, token: str = TOKEN) -> None:
    """Push FILE; prints its sha256 and how runs name it."""
    with _client(server, token) as client:
        record = client.push_dataset(file, project, name, label)
    verb = "pushed" if record["created"] else "already there:"
    typer.echo(f"{verb} {record['project']}/{record['name']} sha256 {record['sha256']} "
               f"({record['format']}, {record['rows']} rows, {record['features']} features, "
               f"{_classes(record)})")
    use = json.dumps({"dataset": {"name": "file", "dataset": record["name"]}})
    typer.echo(f"train on it with {use[1:-1]}")


@datasets_app.command("list")
def list_datasets(project: str = typer.Option(None, "--project", "-p",
                                              help="only this project's"),
                  server: str = SERVER, token: str = TOKEN) -> None:
    """The datasets you can see, by name: one line each."""
    with _client(server, token) as client:
        page = {"next_page_token": None}
        while True:
            page = client.datasets(project, page_token=page["next_page_token"])
            for d in page["datasets"]:
                typer.echo(f"{d['project']}/{d['name']}  sha256 {d['sha256'][:12]}  "
                           f"{d['format']}  {d['rows']} rows  {d['features']} features  "
                           f"{_classes(d)}  {d['bytes']} bytes  by {d['created_by']}")
            if not page["next_page_token"]:
                break


@datasets_app.command()
def show(ref: str = typer.Argument(..., help="name, sha256 or name@sha256"),
         project: str = PROJECT, server: str = SERVER, token: str = TOKEN) -> None:
    """A dataset's record, as JSON."""
    with _client(server, token) as client:
        typer.echo(json.dumps(client.dataset(project, ref), indent=2))


@datasets_app.command()
def delete(ref: str = typer.Argument(..., help="name, sha256 or name@sha256"),
           project: str = PROJECT, server: str = SERVER, token: str = TOKEN) -> None:
    """Delete a dataset (project admins); refused while a queued or running run uses it."""
    with _client(server, token) as client:
        client.delete_dataset(project, ref)
    typer.echo(f"deleted {project}/{ref}")
