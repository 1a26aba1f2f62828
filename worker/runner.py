"""The worker loop: lease a run, train it with optim_core, stream its metrics in batches,
upload checkpoints, heartbeat from a separate thread, and report how it ended.

Uploads run in a sender thread, in order, so training never waits for the network. Ordering
keeps the delivery promise: before a checkpoint is uploaded every metric up to its step has
been acknowledged, so a resumed attempt replays only points the server may lack (and the server
ignores the duplicates — the values are identical, training is deterministic). The run is
finished (or released) only after the sender has drained.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import socket
import threading
import time
import traceback
import uuid
from pathlib import Path

import optim_core
from optrack.protocol import Lease, LeaseLost, WorkerClient
from optrack.wire import encode_floats, encode_value

from .datasets import DatasetCache, default_cache_dir

log = logging.getLogger("optrack.worker")

FLUSH_POINTS = 2000  # send metrics when this many are buffered …
FLUSH_SECONDS = 0.5  # … or when the oldest buffered point is this old; a run's first
FIRST_FLUSH_SECONDS = 0.05  # flush comes sooner, and each next one twice as late up to
# FLUSH_SECONDS: a short run's points are mostly stored while it trains (the server ingests
# on another core) instead of all at its finish, where the run waits for them
LEASE_WAIT = 10.0  # seconds one lease call long-polls
PENDING_UPLOADS = 64  # metric batches and checkpoints queued for the sender before training waits
CHECKPOINT_EVERY_SECONDS = 2.0  # upload at most one checkpoint per this many seconds (the
# first at once, and always when stopping): short epochs would otherwise spend more time on
# uploads than on training, and a resume replays identical values anyway


class Stop(Exception):
    """The current run must stop: cancelled, lease lost, or the worker is shutting down."""


class Worker:
    def __init__(self, server: str, token: str | None = None, worker_id: str | None = None,
                 cache_dir: Path | None = None):
        self.client = WorkerClient(server, token)
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.datasets = DatasetCache(cache_dir or default_cache_dir(), self.client)
        self.shutting_down = threading.Event()

    def install_signal_handlers(self) -> None:
        """First SIGTERM/SIGINT: finish the step, checkpoint, release, exit 0. Second: exit now."""
        def handler(signum, _frame):
            if self.shutting_down.is_set():
                os._exit(1)
            log.info("worker %s: signal %d, stopping after this step", self.worker_id, signum)
            self.shutting_down.set()
        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def run_forever(self, max_runs: int | None = None) -> None:
        done, lease = 0, None
        while not self.shutting_down.is_set() and (max_runs is None or done < max_runs):
            lease = lease or self.client.lease(self.worker_id, wait=LEASE_WAIT)
            if lease is not None and not self.shutting_down.is_set():
                done += 1
                # the next run comes with this one's finish when the server can hand it over
                lease = self.run_one(lease, another=max_runs is None or done < max_runs)
        if lease is not None:  # leased while stopping
            try:
                self.client.release(lease.run_id, lease.attempt)
            except LeaseLost:  # cancelled meanwhile: nothing to hand back
                pass
        self.client.close()

    def run_one(self, lease: Lease, another: bool = False) -> Lease | None:
        """Run ``lease``; with ``another``, ask the finish for the next run (when the server
        leases in ``finish``): that lease, or None."""
        started = time.monotonic()
        log.info("lease run=%s attempt=%d worker=%s", lease.run_id, lease.attempt, self.worker_id)
        state = _RunState(self, lease, another and lease.finish_leases_next)
        outcome = "lost"
        try:
            outcome = state.execute()
        except LeaseLost as exc:
            log.info("run=%s attempt=%d lease lost: %s", lease.run_id, lease.attempt, exc)
        finally:
            state.stop_heartbeat()
        log.info("finish run=%s attempt=%d outcome=%s duration=%.2fs points_with_finish=%d "
                 "next=%s", lease.run_id, lease.attempt, outcome, time.monotonic() - started,
                 state.points_with_finish, state.next_lease.run_id if state.next_lease else "-")
        return state.next_lease


class _Sender(threading.Thread):
    """Sends metric batches and checkpoints in the order they were queued."""

    def __init__(self, client, lease: Lease, lost: threading.Event, stopped: "_Stopped"):
        super().__init__(daemon=True)
        self.client, self.lease, self.lost, self.stopped = client, lease, lost, stopped
        self.jobs: queue.Queue = queue.Queue(maxsize=PENDING_UPLOADS)
        self.error: BaseException | None = None

    def run(self) -> None:
        done = False
        while not done:
            jobs = [self.jobs.get()]
            while True:  # take whatever else is waiting: a lagging sender catches up in bulk
                try:
                    jobs.append(self.jobs.get_nowait())
                except queue.Empty:
                    break
            done = None in jobs
            if self.error is None:
                self._send([j for j in jobs if j is not None])
            for _ in jobs:
                self.jobs.task_done()

    def wait_sent(self) -> None:
        """Wait until everything queued so far was sent (the thread goes on)."""
        self.jobs.join()

    def _send(self, jobs: list) -> None:
        """Metrics in as few requests as the batch limit allows; of several checkpoints only
        the latest (the server keeps only the latest anyway), after the metrics before it."""
        last = max((i for i, (kind, _) in enumerate(jobs) if kind == "checkpoint"), default=-1)
        try:
            self._metrics([p for kind, batch in jobs[:last + 1] if kind == "metrics"
                           for p in batch])
            if last >= 0:
                self._checkpoint(*jobs[last][1])
            self._metrics([p for kind, batch in jobs[last + 1:] if kind == "metrics"
                           for p in batch])
        except LeaseLost as exc:
            self.error = exc
            self.lost.set()
        except BaseException as exc:  # noqa: BLE001 — handed to the training thread
            self.error = exc

    def _checkpoint(self, step: int, data: bytes) -> None:
        """Upload unless over the server's limit: then the run goes on without it (a resumed
        attempt starts from an earlier checkpoint and replays identical values)."""
        limit = self.lease.limits.max_checkpoint_bytes
        if len(data) > limit:
            log.warning("run=%s checkpoint at step %d is %d bytes, over the server's %d: "
                        "not uploaded", self.lease.run_id, step, len(data), limit)
            return
        self.client.put_checkpoint(self.lease.run_id, self.lease.attempt, step, data)

    def _metrics(self, points: list[dict]) -> None:
        """In requests of at most the server's batch limit (from the lease)."""
        batch = self.lease.limits.max_metric_batch
        for start in range(0, len(points), batch):
            if self.client.metrics(self.lease.run_id, self.lease.attempt,
                                   points[start:start + batch]):
                self.stopped.set("pruned")  # the server already ended the run
                raise Stop()

    def drain(self) -> None:
        """Wait until everything queued was sent; re-raise a failure of the sender."""
        self.jobs.put(None)
        self.join()
        if self.error is not None:
            raise self.error


class _Stopped:
    """Why the server stopped the run, once known: "cancelled" (a user) or "pruned" (its
    search). Set by the heartbeat thread or the sender, read by the training loop."""

    def __init__(self):
        self.reason: str | None = None

    def set(self, reason: str) -> None:
        self.reason = self.reason or reason


class _RunState:
    """One attempt of one run."""

    def __init__(self, worker: Worker, lease: Lease, lease_next: bool = False):
        self.worker, self.lease, self.client = worker, lease, worker.client
        self.lease_next = lease_next  # ask the finish for the worker's next run
        self.next_lease: Lease | None = None
        self.points_with_finish = 0  # the last points, sent with finish
        self.buffer: list[dict] = []
        self.oldest = 0.0
        self.flush_after = FIRST_FLUSH_SECONDS
        self.next_checkpoint = 0.0  # monotonic time before which checkpoints are not uploaded
        self.stopped = _Stopped()
        self.lost = threading.Event()
        self.sender = _Sender(self.client, lease, self.lost, self.stopped)
        self.sender.start()
        self._beat_stop = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, daemon=True)
        self._beat.start()

    def execute(self) -> str:
        lease = self.lease
        try:
            resume = (self.client.get_checkpoint(lease.run_id, lease.attempt)
                      if lease.checkpoint_step is not None else None)
            self.worker.datasets.prepare(lease)
            events = optim_core.train(lease.config, resume_from=resume,
                                      checkpoint_now=self.worker.shutting_down.is_set,
                                      cache_dir=self.worker.datasets.directory)
            for event in events:
                self._check()
                if isinstance(event, optim_core.Metrics):
                    self._buffer(event)
                elif isinstance(event, optim_core.Checkpoint):
                    stopping = self.worker.shutting_down.is_set()
                    if not stopping and time.monotonic() < self.next_checkpoint:
                        continue
                    self.next_checkpoint = time.monotonic() + CHECKPOINT_EVERY_SECONDS
                    self._flush()
                    self.sender.jobs.put(("checkpoint", (event.step, event.data)))
                    if stopping:
                        self.sender.drain()
                        self.client.release(lease.run_id, lease.attempt)
                        return "released"
                else:
                    last = self._last_points()
                    self.sender.drain()
                    outcome = event.summary["outcome"]
                    self._finish(outcome, encode_floats(event.summary), metrics=last)
                    return outcome
        except Stop:
            return self.stopped.reason or "lost"
        except LeaseLost:
            raise
        except Exception as exc:  # the run's own failure: report it, the server retries it
            last = traceback.format_exception_only(type(exc), exc)[-1].strip()
            self._flush_quietly()
            self._finish("failed", None, error=last)
            return "failed"
        return "finished"

    def _finish(self, outcome: str, summary: dict | None, error: str | None = None,
                metrics: list[dict] | None = None) -> None:
        """Report how the attempt ended (the sender has drained), asking for the worker's next
        run unless it is stopping (one handed over as it began to stop is released by
        run_forever)."""
        wanted = self.lease_next and not self.worker.shutting_down.is_set()
        self.next_lease = self.client.finish(
            self.lease.run_id, self.lease.attempt, outcome, summary, error, metrics,
            lease_next_for=self.worker.worker_id if wanted else None)
        self.points_with_finish = len(metrics or ())

    def _check(self) -> None:
        if self.stopped.reason or self.lost.is_set():
            raise Stop()

    def _buffer(self, event: optim_core.Metrics) -> None:
        now = time.time()
        if not self.buffer:
            self.oldest = time.monotonic()
        self.buffer.extend({"key": k, "step": event.step, "value": encode_value(v), "time": now}
                           for k, v in event.values.items())
        if self.lease.prune_metric in event.values:
            # the search's pruner judges this report: train on only once it has answered, so a
            # pruned run stops where the pruner said, as in a single Optuna process
            self._flush()
            self.sender.wait_sent()
            self._check()
        elif (len(self.buffer) >= FLUSH_POINTS
              or time.monotonic() - self.oldest >= self.flush_after):
            self.flush_after = min(self.flush_after * 2, FLUSH_SECONDS)
            self._flush()

    def _last_points(self) -> list[dict] | None:
        """The buffer, to go with ``finish`` when the server takes it there and it fits one
        request (one request fewer a run); else it is flushed as usual and None."""
        fits = len(self.buffer) <= self.lease.limits.max_metric_batch
        if not (self.lease.finish_takes_metrics and fits):
            self._flush()
            return None
        if self.sender.error is not None:
            raise self.sender.error
        last, self.buffer = self.buffer, []
        return last

    def _flush(self) -> None:
        """Hand the buffer to the sender (whose client retries through outages)."""
        if self.sender.error is not None:
            raise self.sender.error
        if self.buffer:
            self.sender.jobs.put(("metrics", self.buffer))
            self.buffer = []

    def _flush_quietly(self) -> None:
        try:
            self._flush()
            self.sender.drain()
        except Exception:  # the run already failed; its metrics are best effort now
            log.exception("could not send the last metrics of run %s", self.lease.run_id)

    def _heartbeat(self) -> None:
        interval = max(self.lease.lease_seconds / 3, 0.05)
        while not self._beat_stop.wait(interval):
            try:
                reason = self.client.heartbeat(self.lease.run_id, self.lease.attempt)
                if reason:
                    self.stopped.set(reason)
                    return
            except LeaseLost:
                self.lost.set()
                return
            except Exception:
                log.exception("heartbeat of run %s failed", self.lease.run_id)

    def stop_heartbeat(self) -> None:
        """Stop the helper threads (the sender drops what it has not sent: the run is over or
        lost, and a later attempt replays it)."""
        self._beat_stop.set()
        self._beat.join(timeout=5)
        if self.sender.is_alive():
            self.sender.error = self.sender.error or Stop()
            try:
                self.sender.jobs.put_nowait(None)
            except queue.Full:
                pass
