"""The one place that turns errors into HTTP responses: domain errors by their status, request
validation into 422 with a detail per field, database integrity errors by constraint name into
409, anything else into a logged 500 (a bug). Under the MLflow-compatible API the same errors
answer in MLflow's shape and statuses (``mlflow/errors.py``)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from .errors import InvalidInput, OptrackError, from_integrity
from .mlflow.errors import error_for_path, is_mlflow_path
from .models import Base
from .query import QueryError

log = logging.getLogger("optrack.errors")


def install_handlers(app: FastAPI) -> None:
    """Map every error, expected or not, to the one error shape."""

    @app.exception_handler(OptrackError)
    async def _domain(request: Request, exc: OptrackError):
        return _respond(request, exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        details = [{"loc": _loc(e.get("loc", ())), "msg": e.get("msg", "invalid")}
                   for e in exc.errors()]
        message = "; ".join(f"{d['loc']}: {d['msg']}" for d in details[:5]) or "invalid input"
        return _respond(request, 422, "invalid_input", message, details)

    @app.exception_handler(QueryError)
    async def _query(request: Request, exc: QueryError):
        return await _domain(request, InvalidInput(str(exc), [exc.detail()]))

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError):
        return await _domain(request, from_integrity(exc, Base.metadata))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        code = {401: "unauthenticated", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 413: "too_large", 429: "rate_limited"}.get(
            exc.status_code, "http_error")
        if code == "not_found" and is_mlflow_path(request.url.path):
            code = "endpoint_not_found"  # no route: MLflow clients fall back on this code
        return _respond(request, exc.status_code, code, str(exc.detail),
                        headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unhandled error")
        return _respond(request, 500, "internal", "internal error")


def _respond(request: Request, status: int, code: str, message: str,
             details: list | None = None, headers: dict | None = None) -> JSONResponse:
    """The error response: optrack's shape, or MLflow's under the MLflow paths."""
    body, status = error_for_path(request.url.path, status, code, message, details)
    return JSONResponse(body, status_code=status, headers=headers)


def _loc(parts) -> str:
    """('body', 'optimizer', 2, 'lr') → 'optimizer[2].lr'."""
    out = ""
    for part in parts:
        if part in ("body", "query", "path"):
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"
