"""/api/v1/worker: the protocol workers speak. Every call after the lease names (run id,
attempt); a call from an attempt that lost its lease gets 409 and the worker drops the run."""

from __future__ import annotations

import time

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from optim_core.training import flatten

from .. import checkpoints, metrics_store, queue
from ..auth import CurrentUser, scope
from ..deps import SettingsDep, WriteSession
from ..errors import TooLarge
from ..schemas import (AttemptBody, CheckpointOut, HeartbeatOut, LeaseOut, LeaseRequest,
                       MetricBatchResult, WorkerFinish, WorkerMetrics)

router = APIRouter(prefix="/api/v1/worker", tags=["worker"], dependencies=[scope("worker")])
POLL_SECONDS = 0.25  # how often a waiting lease call looks again for runs queued elsewhere


@router.post("/lease", response_model=LeaseOut, responses={204: {"description": "no run"}})
async def lease(body: LeaseRequest, request: Request, worker: CurrentUser):
    """Claim the next queued run, waiting up to ``wait`` seconds for one (long poll). The wait
    holds no thread, and a caller that hung up is never handed a run."""
    settings = request.app.state.settings
    deadline = time.monotonic() + min(body.wait, settings.lease_wait_seconds)
    while True:
        if await request.is_disconnected():
            return Response(status_code=204)
        seen = request.app.state.queue_signal.generation
        out = await run_in_threadpool(_lease_once, request, body.worker_id, settings, worker)
        remaining = deadline - time.monotonic()
        if out is not None:
            return out
        if remaining <= 0:
            return Response(status_code=204)
        await request.app.state.queue_signal.wait(seen, min(POLL_SECONDS, remaining))


def _lease_once(request: Request, worker_id: str, settings, worker) -> LeaseOut | None:
    with request.app.state.writer() as session:
        run = queue.lease_next(session, worker_id, settings, worker)
        out = None if run is None else LeaseOut(
            run_id=run.id, attempt=run.attempt, config=flatten(run.config),
            lease_seconds=settings.lease_seconds, checkpoint_step=run.checkpoint_step)
        session.commit()
    return out


@router.post("/runs/{run_id}/heartbeat", response_model=HeartbeatOut)
def heartbeat(run_id: str, body: AttemptBody, session: WriteSession,
              settings: SettingsDep, worker: CurrentUser) -> HeartbeatOut:
    """Extend the lease; ``cancelled`` tells the worker to stop."""
    cancelled = queue.heartbeat(session, run_id, body.attempt, settings, worker)
    session.commit()
    return HeartbeatOut(cancelled=cancelled, lease_seconds=settings.lease_seconds)


@router.post("/runs/{run_id}/metrics", response_model=MetricBatchResult)
def metrics(run_id: str, body: WorkerMetrics, session: WriteSession,
            settings: SettingsDep, worker: CurrentUser) -> MetricBatchResult:
    """Metrics of the attempt holding the lease; replayed points are ignored."""
    queue.holding(session, run_id, body.attempt, worker)
    inserted = metrics_store.ingest(session, run_id, body.metrics, settings.max_metric_batch)
    session.commit()
    return MetricBatchResult(received=len(body.metrics), inserted=inserted)


@router.put("/runs/{run_id}/checkpoint", response_model=CheckpointOut,
            openapi_extra={"requestBody": {"content": {"application/octet-stream": {
                "schema": {"type": "string", "format": "binary"}}}, "required": True}})
async def put_checkpoint(run_id: str, request: Request, worker: CurrentUser,
                         attempt: int = Query(ge=1),
                         step: int = Query(ge=0)) -> CheckpointOut:
    """Store the attempt's latest checkpoint (the body is the ``.npz`` blob)."""
    settings = request.app.state.settings
    data = await request.body()
    if len(data) > settings.max_checkpoint_bytes:
        raise TooLarge(f"checkpoint: at most {settings.max_checkpoint_bytes} bytes")
    def store() -> str:  # in the thread pool: it waits for the write lock and fsyncs
        with request.app.state.writer() as session:
            run = queue.holding(session, run_id, attempt, worker)
            sha = checkpoints.store(session, run, data, step, settings.data_dir,
                                    settings.max_checkpoint_bytes)
            session.commit()
        return sha

    return CheckpointOut(sha256=await run_in_threadpool(store), step=step)


@router.get("/runs/{run_id}/checkpoint", response_class=Response,
            responses={200: {"content": {"application/octet-stream": {}}}})
def get_checkpoint(run_id: str, session: WriteSession, settings: SettingsDep,
                   worker: CurrentUser, attempt: int = Query(ge=1)) -> Response:
    """The run's latest checkpoint, for the attempt that resumes it."""
    run = queue.holding(session, run_id, attempt, worker)
    return Response(checkpoints.load(run, settings.data_dir),
                    media_type="application/octet-stream")


@router.post("/runs/{run_id}/finish")
def finish(run_id: str, body: WorkerFinish, request: Request, session: WriteSession,
           settings: SettingsDep, worker: CurrentUser) -> dict:
    """succeeded / diverged end the run; failed retries it while attempts are left."""
    run = queue.finish(session, run_id, body.attempt, body.status, settings, worker,
                       body.summary, body.error)
    session.commit()
    _notify(request)
    return {"status": run.status}


@router.post("/runs/{run_id}/release")
def release(run_id: str, body: AttemptBody, request: Request, session: WriteSession,
            worker: CurrentUser) -> dict:
    """Hand the run back to the queue at once (a worker shutting down)."""
    run = queue.release(session, run_id, body.attempt, worker)
    session.commit()
    _notify(request)
    return {"status": run.status}


def _notify(request: Request) -> None:
    request.app.state.queue_signal.notify()
