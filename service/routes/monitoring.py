"""``GET /metrics``: Prometheus' text format, for a token with the ``metrics`` scope."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from ..deps import ReadSession, SettingsDep, scope
from ..models import utcnow
from ..ops import exposition

router = APIRouter(tags=["monitoring"])


# not in the OpenAPI schema: that describes the JSON API, this is Prometheus' format
@router.get("/metrics", dependencies=[scope("metrics")], response_class=Response,
            include_in_schema=False)
def metrics(session: ReadSession, settings: SettingsDep) -> Response:
    """Request counts and latencies per route template, runs per state, the queue, lease
    waits, points ingested, checkpoint bytes and the workers seen (README, "Operating
    optrack")."""
    body = exposition.render(session, utcnow(), settings.lease_seconds)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
