"""Log output: uvicorn's text lines by default, with what looks like a token in its access
lines cut to the token's public prefix (``/login?code=…`` carries a one-time secret); with
``OPTRACK_LOG_FORMAT=json`` every line — uvicorn's, the service's, warnings — is one JSON
object, and the per-request line comes from ``access.RequestObserver`` instead of uvicorn's
access log."""

from __future__ import annotations

import copy
import json
import logging
import re
import sys
from datetime import datetime, timezone

from uvicorn.config import LOGGING_CONFIG

from ..auth.tokens import DISPLAY, PREFIX

FORMATS = ("text", "json")
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "msg", …}`` on one line; a record's ``fields`` (given as
    ``extra={"fields": {…}}``) are added as they are, an exception as ``exc``."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"time": datetime.fromtimestamp(record.created, timezone.utc)
                .isoformat(timespec="milliseconds"),
                "level": record.levelname.lower(), "logger": record.name,
                "msg": record.getMessage(), **getattr(record, "fields", {})}
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


_SECRET = re.compile(re.escape(PREFIX) + r"[A-Za-z0-9_\-]{%d,}" % (DISPLAY - len(PREFIX) + 1))


class RedactSecrets(logging.Filter):
    """Cuts token-shaped strings in a record's arguments to their public prefix."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_SECRET.sub(lambda m: m.group()[:DISPLAY] + "…", a)
                                if isinstance(a, str) else a for a in record.args)
        return True


def configure(log_format: str) -> None:
    """Switch this process's logging to ``log_format`` (text leaves uvicorn's as it is, but
    for the secrets)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactSecrets) for f in access.filters):
        access.addFilter(RedactSecrets())
    if log_format != "json":
        return
    formatter = JsonFormatter()
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root.handlers = [handler]
    for name in UVICORN_LOGGERS:
        for existing in logging.getLogger(name).handlers:
            existing.setFormatter(formatter)
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("optrack").setLevel(logging.INFO)
    logging.captureWarnings(True)


def uvicorn_config(log_format: str) -> dict:
    """uvicorn's ``log_config`` for ``log_format``: its own, or the same loggers as JSON (its
    access log off), so that ``optrack serve``'s supervising process logs JSON too."""
    config = copy.deepcopy(LOGGING_CONFIG)
    if log_format == "json":
        for name in config["formatters"]:
            config["formatters"][name] = {"()": f"{__name__}.JsonFormatter"}
        config["loggers"]["uvicorn.access"] = {"handlers": [], "level": "WARNING",
                                               "propagate": False}
    return config
