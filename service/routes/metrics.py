"""Metric ingestion and history."""

from __future__ import annotations


from fastapi import APIRouter, Query
from sqlalchemy import select

from .. import metrics_store, rollups
from ..auth import CurrentUser, scope
from ..deps import ReadSession, SettingsDep, WriteSession
from ..errors import Conflict, InvalidInput, NotFound
from ..models import Run, RunStatus
from ..runs import get_run
from ..schemas import (HistoryOut, MetricBatch, MetricBatchResult, MetricKey, MetricsQuery,
                       Series, encode_value)

router = APIRouter(prefix="/api/v1", tags=["metrics"], dependencies=[scope()])


@router.post("/runs/{run_id}/metrics", response_model=MetricBatchResult)
def log_metrics(run_id: str, body: MetricBatch, session: WriteSession,
                settings: SettingsDep, user: CurrentUser) -> MetricBatchResult:
    """Log up to 10,000 points; points already stored (same key and step) are ignored, so a
    retried batch is harmless. Values may be "NaN", "Infinity" or "-Infinity"."""
    run = get_run(session, user, run_id, "member")
    if run.status != RunStatus.running.value:
        raise Conflict(f"run {run_id!r} is {run.status}; metrics are logged to running runs")
    inserted = metrics_store.ingest(session, run_id, body.metrics, settings.max_metric_batch)
    session.commit()
    return MetricBatchResult(received=len(body.metrics), inserted=inserted)


@router.get("/runs/{run_id}/metrics", response_model=HistoryOut)
def run_history(run_id: str, session: ReadSession, settings: SettingsDep, user: CurrentUser,
                keys: list[MetricKey] | None = Query(None, max_length=50),
                max_points: int | None = Query(None, ge=10)) -> HistoryOut:
    """One run's series, downsampled in SQL to ``max_points`` each (default 1,000)."""
    get_run(session, user, run_id)
    if not keys:
        keys = sorted(metrics_store.latest_values(session, [run_id])[run_id])
    return HistoryOut(series=_series(session, settings, [run_id], keys, max_points))


@router.post("/metrics/query", response_model=HistoryOut)
def query_metrics(body: MetricsQuery, session: ReadSession, settings: SettingsDep,
                  user: CurrentUser) -> HistoryOut:
    """Many runs × keys at once, for compare charts."""
    found = set(session.scalars(select(Run.id).where(
        Run.id.in_(body.run_ids), user.where(Run.project_id), Run.deleted_at.is_(None))))
    missing = [r for r in body.run_ids if r not in found]
    if missing:
        raise NotFound(f"run {missing[0]!r} not found")
    return HistoryOut(series=_series(session, settings, body.run_ids, body.keys, body.max_points))


def _series(session, settings, run_ids, keys, max_points) -> list[Series]:
    max_points = max_points or settings.default_history_points
    if max_points > settings.max_history_points:
        raise InvalidInput.field("max_points", f"must be <= {settings.max_history_points}")
    found = rollups.histories(session, run_ids, keys, max_points)
    out = []
    for run_id in run_ids:
        for key in keys:
            steps, values, total = found.get((run_id, key), ([], [], 0))
            out.append(Series(run_id=run_id, key=key, steps=steps,
                              values=[encode_value(v) for v in values], total_points=total,
                              downsampled=total > len(steps)))
    return out
