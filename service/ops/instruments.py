"""The service's own Prometheus counters and histograms, counted where things happen.

Under ``optrack serve --workers N`` each uvicorn process writes its values to files in
``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode, chosen when the library is
first imported) and a scrape of any process adds them up; without that variable they live in
this process's default registry.

Counts that belong to a database change (points, checkpoint bytes, leases) are made when the
session's transaction commits (``on_commit``), so a rolled-back request counts nothing."""

from __future__ import annotations

from datetime import datetime

from prometheus_client import Counter, Histogram
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from ..models import Run, RunAttempt

# seconds: from a fast local call to a long-polling lease call (20 s by default)
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# seconds a run waits in the queue: from an idle worker pool to a backlog of a day
QUEUE_WAIT_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0)

HTTP_REQUESTS = Counter("optrack_http_requests", "HTTP requests answered, by route template "
                        "and status", ["method", "route", "status"])
HTTP_DURATION = Histogram("optrack_http_request_duration_seconds", "time to answer an HTTP "
                          "request, by route template", ["method", "route"],
                          buckets=REQUEST_BUCKETS)
POINTS_INGESTED = Counter("optrack_metric_points_ingested", "metric points stored (replayed "
                          "points, which change nothing, are not counted)")
CHECKPOINT_BYTES = Counter("optrack_checkpoint_bytes", "bytes of checkpoints uploaded and "
                           "stored")
LEASE_ATTEMPTS = Counter("optrack_lease_attempts", "looks for a queued run by lease calls (a "
                         "transaction each): what waiting workers cost the database")
QUEUE_WAIT = Histogram("optrack_lease_wait_seconds", "time a run waited in the queue before a "
                       "worker leased it: from its creation, or from the end of its previous "
                       "attempt (a retry's backoff included)", buckets=QUEUE_WAIT_BUCKETS)

_PENDING = "optrack.instruments"  # session.info key: counts waiting for the commit


def on_commit(session: Session, count) -> None:
    """Run ``count()`` once the session's transaction commits; never if it rolls back."""
    session.info.setdefault(_PENDING, []).append(count)


@event.listens_for(Session, "after_commit")
def _counted(session: Session) -> None:
    for count in session.info.pop(_PENDING, ()):
        count()


@event.listens_for(Session, "after_rollback")
def _dropped(session: Session) -> None:
    session.info.pop(_PENDING, None)


def points_stored(session: Session, points: int) -> None:
    if points:
        on_commit(session, lambda: POINTS_INGESTED.inc(points))


def checkpoint_stored(session: Session, size: int) -> None:
    on_commit(session, lambda: CHECKPOINT_BYTES.inc(size))


def queued_since(attempt):
    """SQL: when a run last entered the queue — the end of its attempt number ``attempt`` (an
    expression over ``Run``), or its creation before any attempt."""
    ended = (select(RunAttempt.ended_at)
             .where(RunAttempt.run_id == Run.id, RunAttempt.attempt == attempt)
             .scalar_subquery())
    return func.coalesce(ended, Run.created_at)


def leased(session: Session, run: Run, now: datetime) -> None:
    """``run`` was just leased (its ``attempt`` already counts the new lease): observe how
    long it waited."""
    since = (run.created_at if run.attempt == 1  # most runs: no attempt before, no query
             else session.scalar(select(queued_since(Run.attempt - 1))
                                 .where(Run.id == run.id)))
    waited = max(0.0, (now - since).total_seconds())
    on_commit(session, lambda: QUEUE_WAIT.observe(waited))
