"""/api/v1 metrics: logging points to external runs, histories, full-resolution export,
many runs at once."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from optrack.wire import encode_value

from ..deps import CurrentUser, ReadSession, SettingsDep, WriteSession, scope
from ..errors import InvalidInput
from ..runs import get_run, log_external_metrics, require_visible
from ..schemas.common import MetricKey
from ..schemas.metrics import HistoryOut, MetricBatch, MetricBatchResult, MetricsQuery, Series
from ..tracking import export, histories
from ..tracking.latest import latest_values
from .bodies import JsonBodyRoute
from .views import download

router = APIRouter(prefix="/api/v1", tags=["metrics"], dependencies=[scope()],
                   route_class=JsonBodyRoute)


@router.post("/runs/{run_id}/metrics", response_model=MetricBatchResult)
def log_metrics(run_id: str, body: MetricBatch, session: WriteSession,
                settings: SettingsDep, user: CurrentUser) -> MetricBatchResult:
    """Log up to the server's ``max_metric_batch`` points (10,000 by default; more: 413);
    points already stored (same key and step) are ignored, so a retried batch is harmless.
    Values may be "NaN", "Infinity" or "-Infinity". ``pruned``: the run's search stopped it
    on these points (the run is now pruned; stop training it)."""
    inserted, pruned = log_external_metrics(session, user, run_id, body.metrics,
                                            settings.max_metric_batch)
    session.commit()
    return MetricBatchResult(received=len(body.metrics), inserted=inserted, pruned=pruned)


@router.get("/runs/{run_id}/metrics", response_model=HistoryOut)
def run_history(run_id: str, session: ReadSession, settings: SettingsDep, user: CurrentUser,
                keys: list[MetricKey] | None = Query(None, max_length=50),
                max_points: int | None = Query(None, ge=10)) -> HistoryOut:
    """One run's series, downsampled in SQL to ``max_points`` each (default 1,000)."""
    get_run(session, user, run_id)
    if not keys:
        keys = sorted(latest_values(session, [run_id])[run_id])
    return HistoryOut(series=_series(session, settings, [run_id], keys, max_points))


@router.get("/runs/{run_id}/metrics/export")
def export_history(run_id: str, request: Request, session: ReadSession, user: CurrentUser,
                   keys: list[MetricKey] | None = Query(None, max_length=50),
                   format: str = Query("csv", pattern="^(csv|json)$")) -> StreamingResponse:
    """Every point of the run's series (``keys``, else all), at full resolution — not
    downsampled — streamed in order of key and step: CSV ``key,step,value,time`` or a JSON
    array of {key, step, value, time}."""
    get_run(session, user, run_id)
    writer = export.points_csv if format == "csv" else export.points_json
    return download(request, lambda own_session: writer(own_session, run_id, keys), format,
                    f"run-{run_id}-metrics.{format}")


@router.post("/metrics/query", response_model=HistoryOut)
def query_metrics(body: MetricsQuery, session: ReadSession, settings: SettingsDep,
                  user: CurrentUser) -> HistoryOut:
    """Many runs × keys at once, for compare charts."""
    require_visible(session, user, body.run_ids)
    return HistoryOut(series=_series(session, settings, body.run_ids, body.keys, body.max_points))


def _series(session, settings, run_ids, keys, max_points) -> list[Series]:
    max_points = max_points or settings.default_history_points
    if max_points > settings.max_history_points:
        raise InvalidInput.field("max_points", f"must be <= {settings.max_history_points}")
    found = histories.histories(session, run_ids, keys, max_points)
    out = []
    for run_id in run_ids:
        for key in keys:
            steps, values, total = found.get((run_id, key), ([], [], 0))
            out.append(Series(run_id=run_id, key=key, steps=steps,
                              values=[encode_value(v) for v in values], total_points=total,
                              downsampled=total > len(steps)))
    return out
