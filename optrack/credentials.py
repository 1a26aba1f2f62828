"""Where the command line keeps tokens: ``$OPTRACK_CONFIG_DIR/credentials.json`` (default
``~/.config/optrack``), one token per server URL, readable by its owner only."""

from __future__ import annotations

import json
import os
from pathlib import Path


def path() -> Path:
    base = os.environ.get("OPTRACK_CONFIG_DIR") or Path.home() / ".config" / "optrack"
    return Path(base) / "credentials.json"


def load(server: str) -> str | None:
    try:
        return json.loads(path().read_text()).get(server.rstrip("/"))
    except (OSError, ValueError, AttributeError):
        return None


def save(server: str, token: str) -> Path:
    file = path()
    file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        known = json.loads(file.read_text())
    except (OSError, ValueError):
        known = {}
    known[server.rstrip("/")] = token
    tmp = file.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(known, out, indent=2)
    os.replace(tmp, file)
    return file


def token_for(server: str, given: str | None = None) -> str | None:
    """The token to use with ``server``: given, else $OPTRACK_TOKEN, else the saved one."""
    return given or os.environ.get("OPTRACK_TOKEN") or load(server)
