"""``optrack.init`` and the Run it returns: log metrics from any training loop.

``run.log`` only checks its input and appends to an in-memory buffer; a background thread sends
the buffer in batches (every ``interval`` seconds, or at once when ``batch`` points wait),
through the shared client's retries. When the server stays unreachable past ``retry_for``
seconds the run goes on offline: the rest is spooled (spool.py) for ``optrack sync``.
``finish`` drains the buffer; a ``with`` block that raises finishes the run ``failed`` with
the exception's last line; an interpreter that exits with the run open finishes it too."""

from __future__ import annotations

import atexit
import logging
import re
import sys
import threading
import time
import traceback
from collections import deque
from typing import Any, Mapping

from .client import ApiError, Client, Unreachable, server_url
from .spool import Spool

log = logging.getLogger("optrack")

KEY = re.compile(r"^[A-Za-z0-9_.\-/]{1,200}$")  # the server's metric key rule
INTERVAL = 0.5  # seconds between sends
BATCH = 10_000  # points that trigger a send at once (the server's default batch limit)


class Run:
    """A run being logged. ``id`` is the server's run id (None while offline-only)."""

    def __init__(self, client: Client | None, data: dict[str, Any] | None,
                 spool: Spool | None = None, interval: float = INTERVAL, batch: int = BATCH):
        self.client, self._spool = client, spool
        data = data or {}
        self.id: str | None = data.get("id")
        self.name: str = data.get("name", "")
        self.config: dict[str, Any] = data.get("config") or {}
        self._header = {k: data.get(k) for k in ("project", "name", "config", "tags", "notes",
                                                 "experiment")}
        self._buffer: deque = deque()
        self._last: dict[str, int] = {}  # key → its last step
        self._next_step = 0
        self._keys: set[str] = set()
        self._pruned = False
        self._finished = client is None and spool is None  # disabled: nothing to do, ever
        self._wake, self._closing = threading.Event(), threading.Event()
        self._interval, self._batch = interval, batch
        self._sender = None
        if not self._finished:
            self._sender = threading.Thread(target=self._send_loop, daemon=True,
                                            name="optrack-sender")
            self._sender.start()
            _OPEN.add(self)

    @property
    def offline(self) -> bool:
        return self._spool is not None

    # -- logging ----------------------------------------------------------------------------

    def log(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Record ``metrics`` ({key: number}) at ``step`` (default: one past the last step
        logged). A step lower than one already logged for a key is a ValueError naming both."""
        if self._finished:
            if self.client is None and self._spool is None:
                return  # disabled
            raise RuntimeError(f"run {self.id or self.name!r} is finished")
        if step is None:
            step = self._next_step
        elif type(step) is not int or step < 0:
            raise ValueError(f"step must be an integer >= 0, got {step!r}")
        last, now, points = self._last, time.time(), []
        for key, value in metrics.items():
            if key not in self._keys:
                self._check_key(key)
            previous = last.get(key)
            if previous is not None and step < previous:
                raise ValueError(f"metric {key!r}: step {step} is lower than step {previous}, "
                                 f"already logged")
            try:
                points.append((key, step, float(value), now))
            except (TypeError, ValueError):
                raise ValueError(f"metric {key!r}: {value!r} is not a number") from None
        for point in points:
            last[point[0]] = step
        self._buffer.extend(points)
        if step >= self._next_step:
            self._next_step = step + 1
        if len(self._buffer) >= self._batch:
            self._wake.set()

    def _check_key(self, key: Any) -> None:
        if not isinstance(key, str) or not KEY.match(key):
            raise ValueError(f"metric key {key!r} must be 1-200 characters of letters, digits "
                             f"and _ . - /")
        self._keys.add(key)

    def should_prune(self) -> bool:
        """True once the run's search has pruned it (the answer to the last metrics sent):
        stop training and finish."""
        return self._pruned

    # -- finishing --------------------------------------------------------------------------

    def finish(self, status: str = "succeeded", error: str | None = None) -> None:
        """Send what is buffered, then end the run (``succeeded``, ``failed`` or
        ``diverged``). A pruned run is already ended by its search."""
        if self._finished:
            return
        self._finished = True
        _OPEN.discard(self)
        self._closing.set()
        self._wake.set()
        self._sender.join()
        if self._spool is not None:
            self._spool.write({"kind": "finish", "status": status, "error": error})
            self._spool.close()
            log.warning("optrack: run %s was spooled to %s; upload it with `optrack sync`",
                        self.id or self.name, self._spool.path)
        elif not self._pruned:
            self._send(lambda: self.client.finish_run(self.id, status, error))
        if self.client is not None:
            self.client.close()

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if exc is None:
            self.finish()
        else:
            self.finish("failed", traceback.format_exception_only(kind, exc)[-1].strip())

    # -- the sender thread ------------------------------------------------------------------

    def _send_loop(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            closing = self._closing.is_set()
            while self._buffer:
                self._send_batch()
            if closing:
                return

    def _send_batch(self) -> None:
        buffer, points = self._buffer, []
        while buffer and len(points) < self._batch:
            key, step, value, at = buffer.popleft()
            points.append({"key": key, "step": step, "value": value, "time": at})
        if self._spool is None:
            answer = self._send(lambda: self.client.log_metrics(self.id, points))
            if answer is not None:
                self._pruned = self._pruned or bool(answer.get("pruned"))
                return
        if self._spool is not None:
            self._spool.write({"kind": "metrics", "points": points})

    def _send(self, call):
        """The answer of ``call``; None after going offline (the server unreachable past the
        retries) or when the server refused (logged: a run's logging never raises)."""
        try:
            return call()
        except Unreachable as exc:
            log.warning("optrack: %s; run %s goes on offline", exc, self.id)
            self._spool = Spool({"server": self.client.server, **self._header,
                                 "run_id": self.id})
        except ApiError as exc:
            if not self._pruned:
                log.warning("optrack: the server refused run %s's call: %s", self.id, exc)
        return None


_OPEN: set[Run] = set()  # runs to finish when the interpreter exits
_CRASHED: list[BaseException] = []


def _excepthook(kind, exc, tb) -> None:
    _CRASHED.append(exc)
    _previous_hook(kind, exc, tb)


_previous_hook, sys.excepthook = sys.excepthook, _excepthook


@atexit.register
def _finish_open_runs() -> None:
    for run in list(_OPEN):
        if _CRASHED:
            exc = _CRASHED[-1]
            run.finish("failed", traceback.format_exception_only(type(exc), exc)[-1].strip())
        else:
            run.finish()


def init(project: str = "default", experiment: str | None = None, name: str | None = None,
         config: dict[str, Any] | None = None, tags: list[str] | None = None, notes: str = "",
         server: str | None = None, token: str | None = None, mode: str = "online",
         retry_for: float = 30.0) -> Run:
    """A new run to log to: ``mode`` ``online`` (default; offline once the server is
    unreachable for ``retry_for`` seconds), ``offline`` (spooled for ``optrack sync``) or
    ``disabled`` (every call does nothing)."""
    if mode not in ("online", "offline", "disabled"):
        raise ValueError(f"mode must be online, offline or disabled, got {mode!r}")
    if mode == "disabled":
        return Run(None, None)
    header = {"project": project, "name": name or _default_name(), "config": config or {},
              "tags": tags or [], "notes": notes, "experiment": experiment}
    if mode == "online":
        client = Client(server, token, give_up_after=retry_for)
        try:
            created = client.create_run(header["name"], project, header["config"],
                                        header["tags"], notes, experiment)
            return Run(client, {**header, **created, "experiment": experiment})
        except Unreachable as exc:
            client.close()
            log.warning("optrack: %s; the run is spooled offline", exc)
    spool = Spool({"server": server_url(server), **header, "run_id": None})
    return Run(None, header, spool)


def ask(experiment_id: str, server: str | None = None, token: str | None = None,
        retry_for: float = 30.0) -> Run:
    """Ask and tell: the next trial of an ``"external": true`` search, as a Run whose
    ``config`` holds the sampled values; log to it (check ``should_prune``) and finish it."""
    client = Client(server, token, give_up_after=retry_for)
    return Run(client, client.ask(experiment_id))


def _default_name() -> str:
    script = sys.argv[0].rsplit("/", 1)[-1] if sys.argv and sys.argv[0] else "python"
    return f"{script or 'python'} {time.strftime('%Y-%m-%d %H:%M:%S')}"
