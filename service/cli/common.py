"""What the commands that talk to a server share: the ``--server``, ``--token`` and ``--json``
options, one client per command (``optrack.Client``), and errors as one line on stderr with
exit status 1 — never a traceback."""

from __future__ import annotations

import json
import logging
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Callable, Iterator, NoReturn

import typer

from optrack import ApiError, Client, Unreachable

GIVE_UP_AFTER = 5.0  # seconds a command retries an absent or failing server before saying so

SERVER = typer.Option(None, "--server", envvar="OPTRACK_SERVER",
                      help="the API's URL (default http://127.0.0.1:8000)")
TOKEN = typer.Option(None, "--token", envvar="OPTRACK_TOKEN",
                     help="API token (default: the one saved for this server by optrack up)")
JSON = typer.Option(False, "--json", help="machine-readable output (JSON) for scripts")
FORMAT = typer.Option(None, "--format", help="csv (the default) or json")
JSON_FORMAT = typer.Option(False, "--json", help="short for --format json")
OUTPUT = typer.Option(None, "--output", "-o", help="write to this file (default: stdout)")


def fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


@contextmanager
def connected(server: str | None, token: str | None,
              give_up_after: float = GIVE_UP_AFTER) -> Iterator[Client]:
    """A client of ``server``; the API's refusals and an absent server end the command with
    ``error: …`` and exit status 1."""
    # the client's retry warnings would bury the one line a command says when it gives up
    logging.getLogger("optrack.client").addHandler(logging.NullHandler())
    client = Client(server, token, give_up_after=give_up_after)
    try:
        yield client
    except ApiError as exc:
        fail(exc.message)
    except Unreachable as exc:
        fail(f"the server {client.server} is not reachable ({exc})")
    finally:
        client.close()


def print_json(value: Any) -> None:
    """One line of JSON on stdout, flushed at once (a script may be reading line by line)."""
    sys.stdout.write(json.dumps(value) + "\n")
    sys.stdout.flush()


def read_json_file(path: str) -> Any:
    """The JSON in ``path`` (``-``: stdin); a missing or malformed file is a one-line error."""
    try:
        if path == "-":
            return json.load(sys.stdin)
        with open(path) as fh:
            return json.load(fh)
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    except ValueError as exc:
        fail(f"{path} is not JSON: {exc}")


def data_format(format: str | None, json_out: bool) -> str:
    """``--format``, where ``--json`` is short for ``--format json``."""
    if format not in (None, "csv", "json"):
        fail(f"--format must be csv or json, got {format!r}")
    if json_out and format == "csv":
        fail("--json asks for JSON, --format for csv: give one")
    return format or ("json" if json_out else "csv")


def save_stream(write: Callable[[IO[bytes]], int], output: str | None) -> None:
    """Stream ``write``'s bytes to stdout, or to ``output`` by way of ``output.part`` (renamed
    when complete, removed when not: a broken download never looks like a whole file)."""
    if output is None:
        write(sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return
    part = Path(f"{output}.part")
    try:
        with open(part, "wb") as out:
            written = write(out)
        os.replace(part, output)
    except OSError as exc:
        part.unlink(missing_ok=True)
        fail(f"cannot write {output}: {exc.strerror}")
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    typer.echo(f"{written} bytes written to {output}", err=True)
