"""The one typed HTTP client of optrack's REST API, with retries: the SDK, the command line and
the worker (protocol.py adds the worker's calls) all talk through it.

Connection failures, 429 and 5xx answers are retried with capped exponential backoff (a 429's
``Retry-After`` is honoured) until ``give_up_after`` seconds have passed, so a client rides out
a server restart; then Unreachable is raised. Any other 4xx raises ApiError at once with the
server's error code, message and field details. Where the server is and who calls: arguments,
else ``$OPTRACK_SERVER`` / ``$OPTRACK_TOKEN``, else the credentials the command line saved."""

from __future__ import annotations

import logging
import os
import random
import time
from pathlib import Path
from typing import IO, Any, Callable, Iterator

import httpx

from . import credentials
from .wire import encode_floats

log = logging.getLogger("optrack.client")

DEFAULT_SERVER = "http://127.0.0.1:8000"
RETRY_FIRST = 0.2  # seconds
RETRY_MAX = 5.0  # seconds
GIVE_UP_AFTER = 600.0  # seconds of continuous failure before Unreachable is raised
PAGE_SIZE = 500  # runs asked for per page by iter_runs


class ApiError(Exception):
    """The server refused a call for a reason retrying will not fix (a 4xx)."""

    def __init__(self, status: int, code: str, message: str, details: list | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.details = status, code, message, details or []


class Unreachable(Exception):
    """No answer (or only 429/5xx answers) for ``give_up_after`` seconds."""


def server_url(server: str | None = None) -> str:
    return (server or os.environ.get("OPTRACK_SERVER") or DEFAULT_SERVER).rstrip("/")


class Client:
    """``Client(server, token)``; every method returns the response's JSON, but ``iter_runs``
    (runs, page after page) and the exports (streamed into a file: the bytes written)."""

    def __init__(self, server: str | None = None, token: str | None = None,
                 give_up_after: float = GIVE_UP_AFTER, timeout: float = 30.0):
        self.server = server_url(server)
        token = credentials.token_for(self.server, token)
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.server, headers=headers,
                                 timeout=httpx.Timeout(timeout, connect=5.0))
        self.give_up_after = give_up_after

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- runs -------------------------------------------------------------------------------

    def create_run(self, name: str, project: str = "default", config: dict | None = None,
                   tags: list[str] | None = None, notes: str = "",
                   experiment: str | None = None) -> dict[str, Any]:
        """An external run (``running``), in the project's experiment named ``experiment``
        (made if missing) when given."""
        body = {"name": name, "project": project, "config": config or {}, "tags": tags or [],
                "notes": notes}
        if experiment is not None:
            body["experiment"] = experiment
        return self.call("POST", "/api/v1/runs", json=body).json()

    def log_metrics(self, run_id: str, points: list[dict[str, Any]]) -> dict[str, Any]:
        """``points``: [{"key", "step", "value", "time"}]; {"received", "inserted", "pruned"}."""
        return self.call("POST", f"/api/v1/runs/{run_id}/metrics",
                         json={"metrics": encode_floats(points)}).json()

    def finish_run(self, run_id: str, status: str = "succeeded", error: str | None = None,
                   summary: dict | None = None) -> dict[str, Any]:
        return self.call("POST", f"/api/v1/runs/{run_id}/finish",
                         json={"status": status, "error": error, "summary": summary}).json()

    def get_run(self, run_id: str) -> dict[str, Any]:
        return self.call("GET", f"/api/v1/runs/{run_id}").json()

    def runs(self, **params: Any) -> dict[str, Any]:
        """A page of GET /runs (``filter``, ``order_by``, ``experiment``, ``limit``, …)."""
        return self.call("GET", "/api/v1/runs",
                         params={k: v for k, v in params.items() if v is not None}).json()

    def iter_runs(self, limit: int | None = None, page_size: int = PAGE_SIZE,
                  **params: Any) -> Iterator[dict[str, Any]]:
        """Runs of GET /runs (``filter``, ``order_by``, ``experiment``), page after page,
        at most ``limit`` of them (None: all)."""
        token = None
        while limit is None or limit > 0:
            size = page_size if limit is None else min(page_size, limit)
            page = self.runs(limit=size, page_token=token, **params)
            yield from page["runs"]
            if limit is not None:
                limit -= len(page["runs"])
            token = page.get("next_page_token")
            if not token:
                return

    def export_metrics(self, run_id: str, out: IO[bytes], keys: list[str] | None = None,
                       format: str = "csv") -> int:
        """Write a run's full-resolution history (GET /runs/{id}/metrics/export, streamed)
        to ``out``; the bytes written."""
        return self.download(f"/api/v1/runs/{run_id}/metrics/export", out,
                             params={"keys": keys or [], "format": format})

    def ask(self, experiment_id: str) -> dict[str, Any]:
        """Ask and tell: the next trial of an ``"external": true`` search, as a running run."""
        return self.call("POST", f"/api/v1/experiments/{experiment_id}/trials").json()

    # -- experiments ------------------------------------------------------------------------

    def submit(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.call("POST", "/api/v1/experiments", json=request).json()

    def experiment(self, experiment_id: str) -> dict[str, Any]:
        return self.call("GET", f"/api/v1/experiments/{experiment_id}").json()

    def export_experiment(self, experiment_id: str, out: IO[bytes], format: str = "csv",
                          table: str | None = None) -> int:
        """Write GET /experiments/{id}/export (streamed) to ``out``; the bytes written."""
        params = {"format": format} if table is None else {"format": format, "table": table}
        return self.download(f"/api/v1/experiments/{experiment_id}/export", out, params=params)

    # -- datasets ---------------------------------------------------------------------------

    def push_dataset(self, file: str | os.PathLike | bytes, project: str = "default",
                     name: str | None = None, label: str | None = None) -> dict[str, Any]:
        """Push a dataset file (an .npz with arrays x and y, or a .csv with a header row)
        under ``name`` (default: the file's name); its record, ``created`` false when this
        content was there under that name already."""
        if isinstance(file, bytes):
            if name is None:
                raise ValueError("name the dataset: the bytes have no file name")
            data = file
        else:
            data, name = Path(file).read_bytes(), name or Path(file).name
        params = {"project": project, "name": name, **({"label": label} if label else {})}
        return self.call("POST", "/api/v1/datasets", params=params, content=data,
                         headers={"content-type": "application/octet-stream"}).json()

    def datasets(self, project: str | None = None, **params: Any) -> dict[str, Any]:
        """A page of the datasets you can see (``limit``, ``page_token``)."""
        params = {"project": project, **params}
        return self.call("GET", "/api/v1/datasets",
                         params={k: v for k, v in params.items() if v is not None}).json()

    def dataset(self, project: str, ref: str) -> dict[str, Any]:
        """A dataset's record, by name, sha256 or name@sha256."""
        return self.call("GET", f"/api/v1/datasets/{project}/{ref}").json()

    def delete_dataset(self, project: str, ref: str) -> None:
        self.call("DELETE", f"/api/v1/datasets/{project}/{ref}")

    # -- the transport ----------------------------------------------------------------------

    def call(self, method: str, url: str, timeout: float | None = None,
             lost_on_404: bool = False, **kw: Any) -> httpx.Response:
        """The response of a call that succeeded, retried through failures that may pass."""
        return self._retried(method, url, lost_on_404, lambda: self.http.request(
            method, url, timeout=timeout or httpx.USE_CLIENT_DEFAULT, **kw))

    def download(self, url: str, out: IO[bytes], params: dict[str, Any] | None = None) -> int:
        """GET ``url`` streamed into ``out``; the bytes written. Retried until the response
        starts; a connection that breaks later raises Unreachable (``out`` then holds a part)."""
        response = self._retried("GET", url, False, lambda: self.http.send(
            self.http.build_request("GET", url, params=params), stream=True))
        written = 0
        try:
            for chunk in response.iter_bytes():
                out.write(chunk)
                written += len(chunk)
        except httpx.TransportError as exc:
            raise Unreachable(f"GET {url}: the connection broke after {written} bytes: "
                              f"{type(exc).__name__}: {exc}") from exc
        finally:
            response.close()
        return written

    def _retried(self, method: str, url: str, lost_on_404: bool,
                 send: Callable[[], httpx.Response]) -> httpx.Response:
        delay, started = RETRY_FIRST, time.monotonic()
        while True:
            try:
                response = send()
                if response.status_code < 400:
                    return response
                response.read()  # a streamed answer's error body
                response.close()
                if response.status_code != 429 and response.status_code < 500:
                    raise self.refused(response, lost_on_404)
                problem = f"{response.status_code} {response.text[:200]}"
                wait = _retry_after(response)
            except httpx.TransportError as exc:
                problem, wait = f"{type(exc).__name__}: {exc}", None
            if time.monotonic() - started > self.give_up_after:
                raise Unreachable(f"{method} {url}: gave up after {self.give_up_after:.0f} s: "
                                  f"{problem}")
            pause = wait if wait is not None else delay * random.uniform(0.8, 1.2)
            log.warning("%s %s failed (%s); retrying in %.1f s", method, url, problem, pause)
            time.sleep(pause)
            delay = min(delay * 2, RETRY_MAX)

    def refused(self, response: httpx.Response, lost_on_404: bool) -> Exception:
        """The error a 4xx answer raises (protocol.py turns 409s into LeaseLost)."""
        try:
            error = response.json()["error"]
            code, message, details = error["code"], error["message"], error.get("details")
        except (ValueError, KeyError, TypeError):
            code, message, details = "http_error", response.text[:500], None
        return ApiError(response.status_code, code, message, details)


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return min(float(response.headers["retry-after"]), RETRY_MAX * 4)
    except (KeyError, ValueError):
        return None
