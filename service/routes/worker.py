"""/api/v1/worker: the protocol workers speak. Every call after the lease names (run id,
attempt); a call from an attempt that lost its lease gets 409, and a run that is not there for
the worker's token 404 — the worker drops the run on either. The lease response carries the
server's limits, so workers never hard-code them."""

from __future__ import annotations

import time

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from optim_core.training import flatten

from ..deps import CurrentUser, SettingsDep, WriteSession, scope
from ..ops import instruments
from ..queue import claims, leases
from ..schemas.metrics import MetricBatchResult
from ..schemas.worker import (AttemptBody, CheckpointOut, FinishOut, HeartbeatOut, LeaseOut,
                              LeaseRequest, WorkerFinish, WorkerLimits, WorkerMetrics)
from ..settings import Settings
from .bodies import JsonBodyRoute

router = APIRouter(prefix="/api/v1/worker", tags=["worker"], dependencies=[scope("worker")],
                   route_class=JsonBodyRoute)


@router.post("/lease", response_model=LeaseOut, responses={204: {"description": "no run"}})
async def lease(body: LeaseRequest, request: Request, worker: CurrentUser):
    """Claim the next queued run, waiting up to ``wait`` seconds for one (long poll). The wait
    holds no thread nor database connection, and a caller that hung up is never handed a run.
    Waiting calls are woken one at a time, and look a few at a time (queue/signal.py)."""
    settings = request.app.state.settings
    signal = request.app.state.queue_signal
    # the wait ends somewhere in its last fifth, so that workers that came together (a
    # restart) do not keep coming back together
    deadline = time.monotonic() + min(body.wait, settings.lease_wait_seconds) * signal.spread()
    first = True
    while True:
        async with signal.looking:
            if await request.is_disconnected():
                return Response(status_code=204)
            seen = signal.generation
            out = await run_in_threadpool(_lease_once, request, body.worker_id, settings,
                                          worker, first)
            first = False
        remaining = deadline - time.monotonic()
        if out is not None:
            signal.notify()  # pass the wake-up on: more runs may be queued
            return out
        if remaining <= 0:
            return Response(status_code=204)
        await signal.wait(seen, min(signal.poll_interval(), remaining))


def _lease_once(request: Request, worker_id: str, settings: Settings, worker,
                first: bool) -> LeaseOut | None:
    """One look for a run; the first look of a call gives the worker the run it already holds,
    if any (claims.held_by: the answer that leased it was lost)."""
    with request.app.state.writer() as session:
        held = first and claims.held_by(session, worker_id, settings, worker)
        out = _lease_out(session, held, settings) if held else _leased(session, worker_id,
                                                                       settings, worker)
        session.commit()
    return out


def _leased(session: Session, worker_id: str, settings: Settings, worker) -> LeaseOut | None:
    """Lease ``worker_id`` the next queued run in ``session``'s transaction (the caller
    commits), as the lease response says it."""
    instruments.LEASE_ATTEMPTS.inc()
    run = claims.lease_next(session, worker_id, settings, worker)
    return None if run is None else _lease_out(session, run, settings)


def _lease_out(session: Session, run, settings: Settings) -> LeaseOut:
    return LeaseOut(
        run_id=run.id, attempt=run.attempt, config=flatten(run.config),
        lease_seconds=settings.lease_seconds, checkpoint_step=run.checkpoint_step,
        limits=WorkerLimits(max_metric_batch=settings.max_metric_batch,
                            max_checkpoint_bytes=settings.max_checkpoint_bytes),
        prune_metric=leases.judged_metric(session, run))


@router.post("/runs/{run_id}/heartbeat", response_model=HeartbeatOut)
def heartbeat(run_id: str, body: AttemptBody, session: WriteSession,
              settings: SettingsDep, worker: CurrentUser) -> HeartbeatOut:
    """Extend the lease; ``cancelled`` tells the worker to stop (``pruned`` too: its search's
    pruner stopped it)."""
    stopped = leases.heartbeat(session, run_id, body.attempt, settings, worker)
    session.commit()
    # "cancelled" is every stop, so that workers from before pruning stop a pruned run too
    return HeartbeatOut(cancelled=stopped is not None, pruned=stopped == "pruned",
                        lease_seconds=settings.lease_seconds)


@router.post("/runs/{run_id}/metrics", response_model=MetricBatchResult)
def metrics(run_id: str, body: WorkerMetrics, request: Request, session: WriteSession,
            settings: SettingsDep, worker: CurrentUser) -> MetricBatchResult:
    """Metrics of the attempt holding the lease, at most the lease's ``limits.max_metric_batch``
    points; replayed points are ignored. ``pruned``: the search's pruner stopped the run on
    them, the worker stops it (its later calls get 409)."""
    inserted, pruned = leases.record_metrics(session, run_id, body.attempt, worker,
                                             body.metrics, settings.max_metric_batch)
    session.commit()
    if pruned:
        request.app.state.queue_signal.notify()  # its search may have queued a successor
    return MetricBatchResult(received=len(body.metrics), inserted=inserted, pruned=pruned)


@router.put("/runs/{run_id}/checkpoint", response_model=CheckpointOut,
            openapi_extra={"requestBody": {"content": {"application/octet-stream": {
                "schema": {"type": "string", "format": "binary"}}}, "required": True}})
async def put_checkpoint(run_id: str, request: Request, worker: CurrentUser,
                         attempt: int = Query(ge=1),
                         step: int = Query(ge=0)) -> CheckpointOut:
    """Store the attempt's latest checkpoint (the body is the ``.npz`` blob, at most the
    lease's ``limits.max_checkpoint_bytes``)."""
    settings = request.app.state.settings
    data = await request.body()  # the body limit for this route is the checkpoint limit

    def store() -> str:  # in the thread pool: it waits for the write lock and fsyncs
        with request.app.state.writer() as session:
            sha = leases.store_checkpoint(session, run_id, attempt, worker, data, step, settings)
            session.commit()
        return sha

    return CheckpointOut(sha256=await run_in_threadpool(store), step=step)


@router.get("/runs/{run_id}/checkpoint", response_class=Response,
            responses={200: {"content": {"application/octet-stream": {}}}})
def get_checkpoint(run_id: str, session: WriteSession, settings: SettingsDep,
                   worker: CurrentUser, attempt: int = Query(ge=1)) -> Response:
    """The run's latest checkpoint, for the attempt that resumes it."""
    return Response(leases.load_checkpoint(session, run_id, attempt, worker, settings.data_dir),
                    media_type="application/octet-stream")


@router.get("/runs/{run_id}/dataset", response_class=Response,
            responses={200: {"content": {"application/octet-stream": {}}}})
def get_dataset(run_id: str, request: Request, settings: SettingsDep, worker: CurrentUser,
                attempt: int = Query(ge=1)) -> Response:
    """The pushed dataset file the run trains on (its config pins it by sha256: workers keep
    it in a cache by that name and fetch it once per machine)."""
    with request.app.state.reader() as session:  # closed before the file is streamed
        path = leases.dataset_file(session, run_id, attempt, worker, settings.data_dir)
    return FileResponse(path, media_type="application/octet-stream")


@router.post("/runs/{run_id}/finish", response_model=FinishOut)
def finish(run_id: str, body: WorkerFinish, request: Request, session: WriteSession,
           settings: SettingsDep, worker: CurrentUser) -> FinishOut:
    """succeeded / diverged end the run; failed retries it while attempts are left. The run's
    last ``metrics`` are stored in the same transaction, and with ``lease_next_for`` the
    worker's next run is leased in it too (not after a failure). The same finish sent again
    (its answer was lost) gets the same answer, the handed-over lease included
    (leases.handed_over); a worker that never asks again loses that lease as a crashed
    worker does: it runs out and the run is leased again."""
    try:
        run = leases.finish(session, run_id, body.attempt, body.status, settings, worker,
                            body.summary, body.error, body.metrics)
    except leases.LeaseLost:
        replayed = body.lease_next_for and leases.handed_over(
            session, run_id, body.attempt, body.status, worker, body.lease_next_for)
        if not replayed:
            raise
        status, leased = replayed
        return FinishOut(status=status, next_lease=leased and _lease_out(session, leased,
                                                                         settings))
    out = FinishOut(status=run.status)
    if body.lease_next_for is not None and body.status != "failed":  # else: handed back
        out.next_lease = _leased(session, body.lease_next_for, settings, worker)
    session.commit()
    request.app.state.queue_signal.notify()
    return out


@router.post("/runs/{run_id}/release")
def release(run_id: str, body: AttemptBody, request: Request, session: WriteSession,
            worker: CurrentUser) -> dict:
    """Hand the run back to the queue at once (a worker shutting down)."""
    run = leases.release(session, run_id, body.attempt, worker)
    session.commit()
    request.app.state.queue_signal.notify()
    return {"status": run.status}
