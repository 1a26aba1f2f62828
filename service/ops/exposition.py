"""What ``GET /metrics`` answers: this process's counters and histograms — or, under
``optrack serve --workers N``, those of every process, added up from the files in
``PROMETHEUS_MULTIPROC_DIR`` — then the gauges computed from the database."""

from __future__ import annotations

import os
from datetime import datetime

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy.orm import Session

from . import MULTIPROC_ENV
from .collector import QueueCollector


class _ThisProcess:
    """The default registry (this process's instruments, its CPU, memory and GC figures)."""

    def collect(self):
        return REGISTRY.collect()


def render(session: Session, now: datetime, lease_seconds: float) -> bytes:
    """The Prometheus text exposition of every metric."""
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROC_ENV):
        MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    registry.register(QueueCollector(session, now, lease_seconds))
    return generate_latest(registry)
