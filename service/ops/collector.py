"""Gauges computed from the database when Prometheus scrapes: they describe the shared queue,
not one process, so every API process answers the same (no per-process gauges to add up).
Each is one short query over the ``runs`` table's (status, priority, created_at) index."""

from __future__ import annotations

from datetime import datetime, timedelta

from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from ..models import STATUS_VALUES, Run, RunStatus
from .instruments import queued_since

SEEN_WINDOW = timedelta(minutes=1)  # "workers seen": a lease or heartbeat this recent


class QueueCollector:
    """Runs per state, the queue's depth and oldest wait, and the workers seen, as of ``now``
    (``lease_seconds``: how far a heartbeat moves a lease's expiry)."""

    def __init__(self, session: Session, now: datetime, lease_seconds: float):
        self.session, self.now, self.lease_seconds = session, now, lease_seconds

    def collect(self):
        yield self._runs_per_state()
        queued = Run.status == RunStatus.queued.value
        depth, since = self.session.execute(
            select(func.count(), func.min(queued_since(Run.attempt))).where(queued)).one()
        yield GaugeMetricFamily("optrack_queue_depth", "queued runs (also those waiting out "
                                "a retry's backoff)", value=depth)
        oldest = 0.0 if since is None else max(0.0, (self.now - since).total_seconds())
        yield GaugeMetricFamily("optrack_queue_oldest_age_seconds", "how long the longest "
                                "waiting queued run has waited since it (re)entered the queue "
                                "(0: the queue is empty)", value=oldest)
        yield GaugeMetricFamily("optrack_workers_seen", "distinct workers holding a lease "
                                "they took or renewed in the last minute (a worker waiting on "
                                "an empty queue holds none)", value=self._workers_seen())

    def _runs_per_state(self) -> GaugeMetricFamily:
        counts = dict(self.session.execute(select(Run.status, func.count())
                                           .group_by(Run.status)).all())
        family = GaugeMetricFamily("optrack_runs", "runs per state (those of soft-deleted "
                                   "experiments too, until purged)", labels=["state"])
        for state in STATUS_VALUES:
            family.add_metric([state], counts.get(state, 0))
        return family

    def _workers_seen(self) -> int:
        # a lease or heartbeat sets the expiry to then + lease_seconds
        renewed_after = self.now - SEEN_WINDOW + timedelta(seconds=self.lease_seconds)
        return self.session.scalar(
            select(func.count(distinct(Run.worker_id)))
            .where(Run.status == RunStatus.running.value, Run.worker_id.is_not(None),
                   Run.lease_expires_at >= renewed_after))
