"""Domain errors and the one place that turns them into HTTP responses.

    OptrackError             base; every failure a client can cause
    ├── Unauthenticated      401  no credentials, or ones that are unknown, revoked or expired
    ├── Forbidden            403  valid credentials without the scope, role or CSRF token
    ├── NotFound             404  an id that does not exist (or is not visible)
    ├── Conflict             409  the object is in a state that forbids the action
    ├── InvalidInput         422  a value broke a rule; ``details`` name each field
    └── TooLarge             413  a body or batch over its limit

Every error response has the shape ``{"error": {"code", "message", "details"}}``.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("optrack.errors")


class OptrackError(Exception):
    """A failure the client caused; ``status`` and ``code`` say which."""

    status = 400
    code = "bad_request"
    headers: dict[str, str] | None = None

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or []


class Unauthenticated(OptrackError):
    """No valid credentials: a missing, unknown, revoked or expired token."""

    status, code = 401, "unauthenticated"
    headers = {"www-authenticate": "Bearer"}


class Forbidden(OptrackError):
    """The caller is known but may not do this (scope, role or CSRF)."""

    status, code = 403, "forbidden"


class NotFound(OptrackError):
    """No such object (or not one the caller may see)."""

    status, code = 404, "not_found"


class Conflict(OptrackError):
    """The object's state forbids the action (finishing a finished run)."""

    status, code = 409, "conflict"


class InvalidInput(OptrackError):
    """A value broke a rule; each detail names the field (``loc``) and the rule (``msg``)."""

    status, code = 422, "invalid_input"

    @classmethod
    def field(cls, loc: str, msg: str) -> "InvalidInput":
        return cls(f"{loc}: {msg}", [{"loc": loc, "msg": msg}])


class TooLarge(OptrackError):
    """A request body or batch over its limit."""

    status, code = 413, "too_large"


class RateLimited(OptrackError):
    status, code = 429, "rate_limited"

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.headers = {"retry-after": str(retry_after)}


def error_body(code: str, message: str, details: list | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or []}}


def install_handlers(app: FastAPI) -> None:
    """Map every error, expected or not, to the one error shape."""

    @app.exception_handler(OptrackError)
    async def _domain(_request: Request, exc: OptrackError):
        return JSONResponse(error_body(exc.code, exc.message, exc.details), status_code=exc.status,
                            headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError):
        details = [{"loc": _loc(e.get("loc", ())), "msg": e.get("msg", "invalid")}
                   for e in exc.errors()]
        message = "; ".join(f"{d['loc']}: {d['msg']}" for d in details[:5]) or "invalid input"
        return JSONResponse(error_body("invalid_input", message, details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException):
        code = {401: "unauthenticated", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 413: "too_large", 429: "rate_limited"}.get(
            exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception):
        log.exception("unhandled error")
        return JSONResponse(error_body("internal", "internal error"), status_code=500)


def _loc(parts) -> str:
    """('body', 'optimizer', 2, 'lr') → 'optimizer[2].lr'."""
    out = ""
    for part in parts:
        if part in ("body", "query", "path"):
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"
