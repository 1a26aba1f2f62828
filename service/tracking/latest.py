"""Latest values: per (run, key) the value at the highest step, maintained at ingest, for
views, summaries, filtering and sorting without reading whole series."""

from __future__ import annotations

import math
from typing import Sequence

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from ..models import LatestMetric


def latest(session: Session | Connection, run_ids: Sequence[str]) -> tuple[dict[str, dict[str, float]],
                                                             dict[str, int]]:
    """(run id → {key: latest value} (NaN for NULL), run id → the highest step logged over all
    its keys; runs with no metrics are absent from the second), in one query."""
    values: dict[str, dict[str, float]] = {rid: {} for rid in run_ids}
    steps: dict[str, int] = {}
    if not run_ids:
        return values, steps
    rows = session.execute(select(LatestMetric.run_id, LatestMetric.key, LatestMetric.value,
                                  LatestMetric.step).where(LatestMetric.run_id.in_(run_ids)))
    for run_id, key, value, step in rows:
        values[run_id][key] = math.nan if value is None else value
        steps[run_id] = max(step, steps.get(run_id, step))
    return values, steps


def latest_values(session: Session, run_ids: Sequence[str]) -> dict[str, dict[str, float]]:
    """run id → {key: latest value} (NaN for NULL)."""
    return latest(session, run_ids)[0]
