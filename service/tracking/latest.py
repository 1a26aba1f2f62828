"""Latest values: per (run, key) the value at the highest step, maintained at ingest, for
views, summaries, filtering and sorting without reading whole series."""

from __future__ import annotations

import math
from typing import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import LatestMetric


def latest_values(session: Session, run_ids: Sequence[str]) -> dict[str, dict[str, float]]:
    """run id → {key: latest value} (NaN for NULL)."""
    out: dict[str, dict[str, float]] = {rid: {} for rid in run_ids}
    if not run_ids:
        return out
    rows = session.execute(select(LatestMetric.run_id, LatestMetric.key, LatestMetric.value)
                           .where(LatestMetric.run_id.in_(run_ids)))
    for run_id, key, value in rows:
        out[run_id][key] = math.nan if value is None else value
    return out


def latest_steps(session: Session, run_ids: Sequence[str]) -> dict[str, int]:
    """run id → the highest step logged over all its keys (runs with no metrics are absent)."""
    if not run_ids:
        return {}
    rows = session.execute(select(LatestMetric.run_id, func.max(LatestMetric.step))
                           .where(LatestMetric.run_id.in_(run_ids))
                           .group_by(LatestMetric.run_id))
    return {run_id: int(step) for run_id, step in rows}
