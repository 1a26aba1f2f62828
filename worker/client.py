"""The typed HTTP client of the worker protocol, with retries.

Connection failures and 5xx answers are retried with capped exponential backoff until
``give_up_after`` seconds have passed, so a worker rides out a server restart; a 409 raises
LeaseLost at once (the worker must drop the run), and so does a 404 on the calls that hold a
lease (the run is gone, or not this token's). Responses are read for the fields this worker
knows; a newer server's extra fields are ignored, so servers can be upgraded before workers."""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, fields
from typing import Any

import httpx

log = logging.getLogger("optrack.worker")

RETRY_FIRST = 0.2  # seconds
RETRY_MAX = 5.0  # seconds
GIVE_UP_AFTER = 600.0  # seconds of continuous failure before an error is raised


class LeaseLost(Exception):
    """The server says this attempt no longer holds the run (409), or that the run is not
    there for this token (404)."""


class ServerError(Exception):
    """The server refused a call for a reason retrying will not fix (4xx other than 409)."""


@dataclass(frozen=True)
class Limits:
    """What the server accepts per request; an older server that does not say gets the limits
    every server had before it could say."""

    max_metric_batch: int = 10_000  # points per metrics request
    max_checkpoint_bytes: int = 256 * 1024 * 1024


@dataclass(frozen=True)
class Lease:
    run_id: str
    attempt: int
    config: dict[str, Any]
    lease_seconds: float
    checkpoint_step: int | None
    limits: Limits = Limits()
    prune_metric: str | None = None  # the metric whose reports the search's pruner judges

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Lease":
        """The lease in a lease response, ignoring the fields this worker does not know."""
        known = {f.name for f in fields(cls)} - {"limits"}
        limits = data.get("limits") or {}
        return cls(**{k: v for k, v in data.items() if k in known},
                   limits=Limits(**{k: v for k, v in limits.items()
                                    if k in {f.name for f in fields(Limits)}}))


class ApiClient:
    def __init__(self, server: str, token: str | None = None,
                 give_up_after: float = GIVE_UP_AFTER):
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=server.rstrip("/"), headers=headers,
                                 timeout=httpx.Timeout(30.0, connect=5.0))
        self.give_up_after = give_up_after

    def close(self) -> None:
        self.http.close()

    def lease(self, worker_id: str, wait: float) -> Lease | None:
        response = self._call("POST", "/api/v1/worker/lease",
                              json={"worker_id": worker_id, "wait": wait}, timeout=wait + 30)
        if response.status_code == 204:
            return None
        return Lease.from_json(response.json())

    def heartbeat(self, run_id: str, attempt: int) -> str | None:
        """Why the run must stop ("cancelled" or "pruned"), or None: carry on."""
        body = self._call("POST", f"/api/v1/worker/runs/{run_id}/heartbeat",
                          json={"attempt": attempt}, lost_on_404=True).json()
        if body.get("pruned"):
            return "pruned"
        return "cancelled" if body["cancelled"] else None

    def metrics(self, run_id: str, attempt: int, points: list[dict]) -> bool:
        """True when the run's search pruned it on these points: stop training it."""
        return bool(self._call("POST", f"/api/v1/worker/runs/{run_id}/metrics",
                               json={"attempt": attempt, "metrics": points},
                               lost_on_404=True).json().get("pruned"))

    def put_checkpoint(self, run_id: str, attempt: int, step: int, data: bytes) -> None:
        self._call("PUT", f"/api/v1/worker/runs/{run_id}/checkpoint",
                   params={"attempt": attempt, "step": step}, content=data,
                   headers={"content-type": "application/octet-stream"}, lost_on_404=True)

    def get_checkpoint(self, run_id: str, attempt: int) -> bytes:
        return self._call("GET", f"/api/v1/worker/runs/{run_id}/checkpoint",
                          params={"attempt": attempt}).content  # 404: the blob is missing

    def finish(self, run_id: str, attempt: int, status: str, summary: dict | None = None,
               error: str | None = None) -> None:
        self._call("POST", f"/api/v1/worker/runs/{run_id}/finish",
                   json={"attempt": attempt, "status": status, "summary": summary,
                         "error": error}, lost_on_404=True)

    def release(self, run_id: str, attempt: int) -> None:
        self._call("POST", f"/api/v1/worker/runs/{run_id}/release", json={"attempt": attempt},
                   lost_on_404=True)

    def _call(self, method: str, url: str, timeout: float | None = None,
              lost_on_404: bool = False, **kw) -> httpx.Response:
        delay, started = RETRY_FIRST, time.monotonic()
        while True:
            try:
                response = self.http.request(method, url, timeout=timeout or httpx.USE_CLIENT_DEFAULT,
                                             **kw)
                if response.status_code == 409 or (response.status_code == 404 and lost_on_404):
                    # 404 on a held run's call: the run is gone (purged) or not this token's
                    raise LeaseLost(response.json()["error"]["message"])
                if response.status_code < 500:
                    if response.status_code >= 400:
                        raise ServerError(f"{method} {url}: {response.status_code} "
                                          f"{response.text[:500]}")
                    return response
                problem = f"{response.status_code} {response.text[:200]}"
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if time.monotonic() - started > self.give_up_after:
                raise ServerError(f"{method} {url}: gave up after {self.give_up_after:.0f} s: "
                                  f"{problem}")
            log.warning("%s %s failed (%s); retrying in %.1f s", method, url, problem, delay)
            time.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, RETRY_MAX)
