"""``RequestObserver``, the outermost ASGI middleware: times every HTTP request, counts it
by route *template* (``/api/v1/runs/{run_id}``, never the raw path: the label values stay
few) and status, and — with JSON logs — writes one line per request."""

from __future__ import annotations

import logging
import time

from starlette.requests import Request

from ..auth.tokens import display_prefix
from ..deps import SESSION_COOKIE
from .instruments import HTTP_DURATION, HTTP_REQUESTS

log = logging.getLogger("optrack.access")
UNMATCHED = "unmatched"  # the route label of a request no route answered
# any other method (a client may send any token) is counted as "other": the labels stay few
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestObserver:
    def __init__(self, app, log_requests: bool):
        self.app, self.log_requests = app, log_requests

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status, recorded = 500, False  # 500 unless a response starts: an exception escaped

        async def observed(message):
            nonlocal status, recorded
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                # counted before the last byte leaves: a client that has its answer finds the
                # request in the next scrape
                recorded = True
                self._record(scope, status, time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, observed)
        finally:
            if not recorded:
                self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope, status: int, seconds: float) -> None:
        route = route_template(scope)
        method = scope["method"] if scope["method"] in METHODS else "other"
        HTTP_REQUESTS.labels(method, route, str(status)).inc()
        HTTP_DURATION.labels(method, route).observe(seconds)
        if self.log_requests:
            log.info("request", extra={"fields": self._fields(scope, route, status, seconds)})

    @staticmethod
    def _fields(scope, route: str, status: int, seconds: float) -> dict:
        request = Request(scope)
        scheme, _, secret = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            secret = request.cookies.get(SESSION_COOKIE, "")
        principal = scope.get("state", {}).get("principal")
        return {"method": scope["method"], "route": route, "path": scope["path"],
                "status": status, "duration_ms": round(seconds * 1000, 3),
                "token": display_prefix(secret.strip()),
                "user": principal.name if principal is not None else None}


def route_template(scope) -> str:
    """The path template of the route that answered (a mount's own path for its files)."""
    route = scope.get("route")
    return getattr(route, "path_format", None) or getattr(route, "path", None) or UNMATCHED
