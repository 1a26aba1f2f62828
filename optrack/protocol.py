"""The worker protocol's calls (lease, heartbeat, metrics, checkpoints, datasets, finish,
release) on the shared client (client.py), with its retries. A 409 raises LeaseLost at once
(the worker must drop the run), and so does a 404 on the calls that hold a lease (the run is
gone, or not this token's). Responses are read for the fields this worker knows; a newer
server's extra fields are ignored, so servers can be upgraded before workers."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import httpx

from .client import ApiError, Client


class LeaseLost(Exception):
    """The server says this attempt no longer holds the run (409), or that the run is not
    there for this token (404)."""


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
    finish_takes_metrics: bool = False  # an older server does not: metrics go before finish
    finish_leases_next: bool = False  # an older server does not: the worker calls lease

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Lease":
        """The lease in a lease response, ignoring the fields this worker does not know."""
        known = {f.name for f in fields(cls)} - {"limits"}
        limits = data.get("limits") or {}
        return cls(**{k: v for k, v in data.items() if k in known},
                   limits=Limits(**{k: v for k, v in limits.items()
                                    if k in {f.name for f in fields(Limits)}}))


class WorkerClient(Client):
    """The worker's client: the worker protocol's calls on top of the REST API's."""

    def lease(self, worker_id: str, wait: float) -> Lease | None:
        response = self.call("POST", "/api/v1/worker/lease",
                             json={"worker_id": worker_id, "wait": wait}, timeout=wait + 30)
        if response.status_code == 204:
            return None
        return Lease.from_json(response.json())

    def heartbeat(self, run_id: str, attempt: int) -> str | None:
        """Why the run must stop ("cancelled" or "pruned"), or None: carry on."""
        body = self.call("POST", f"/api/v1/worker/runs/{run_id}/heartbeat",
                         json={"attempt": attempt}, lost_on_404=True).json()
        if body.get("pruned"):
            return "pruned"
        return "cancelled" if body["cancelled"] else None

    def metrics(self, run_id: str, attempt: int, points: list[dict]) -> bool:
        """True when the run's search pruned it on these points: stop training it."""
        return bool(self.call("POST", f"/api/v1/worker/runs/{run_id}/metrics",
                              json={"attempt": attempt, "metrics": points},
                              lost_on_404=True).json().get("pruned"))

    def put_checkpoint(self, run_id: str, attempt: int, step: int, data: bytes) -> None:
        self.call("PUT", f"/api/v1/worker/runs/{run_id}/checkpoint",
                  params={"attempt": attempt, "step": step}, content=data,
                  headers={"content-type": "application/octet-stream"}, lost_on_404=True)

    def get_checkpoint(self, run_id: str, attempt: int) -> bytes:
        return self.call("GET", f"/api/v1/worker/runs/{run_id}/checkpoint",
                         params={"attempt": attempt}).content  # 404: the blob is missing

    def get_dataset(self, run_id: str, attempt: int) -> bytes:
        """The pushed dataset file the run trains on (404: it is missing)."""
        return self.call("GET", f"/api/v1/worker/runs/{run_id}/dataset",
                         params={"attempt": attempt}).content

    def finish(self, run_id: str, attempt: int, status: str, summary: dict | None = None,
               error: str | None = None, metrics: list[dict] | None = None,
               lease_next_for: str | None = None) -> Lease | None:
        """End the attempt; ``metrics``: its last points, stored with it (only to a server
        whose lease says ``finish_takes_metrics``). With ``lease_next_for`` (a worker id; only
        to a server whose lease says ``finish_leases_next``) the server leases that worker its
        next run in the same transaction: returned, or None when none is queued."""
        body = {"attempt": attempt, "status": status, "summary": summary, "error": error}
        if metrics:
            body["metrics"] = metrics
        path = f"/api/v1/worker/runs/{run_id}/finish"
        if lease_next_for is None:
            self.call("POST", path, json=body, lost_on_404=True)
            return None
        try:
            answer = self.call("POST", path, json={**body, "lease_next_for": lease_next_for},
                               lost_on_404=True).json()
        except ApiError as exc:
            if exc.status != 422 or "lease_next_for" not in f"{exc.message} {exc.details}":
                raise
            # a server of an older version behind the same address (a rolling upgrade) does
            # not know the field: the same finish without it; the worker leases its next run
            self.call("POST", path, json=body, lost_on_404=True)
            return None
        following = answer.get("next_lease")
        return Lease.from_json(following) if following else None

    def release(self, run_id: str, attempt: int) -> None:
        self.call("POST", f"/api/v1/worker/runs/{run_id}/release", json={"attempt": attempt},
                  lost_on_404=True)

    def refused(self, response: httpx.Response, lost_on_404: bool) -> Exception:
        if response.status_code == 409 or (response.status_code == 404 and lost_on_404):
            # 404 on a held run's call: the run is gone (purged) or not this token's
            return LeaseLost(super().refused(response, lost_on_404).message)
        return super().refused(response, lost_on_404)
