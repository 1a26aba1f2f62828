"""ASGI middleware: request limits — the body size (413 before the body is read into memory)
and NUL characters in the path or query string (422: no database column can hold them) — and
the security headers every response carries."""

from __future__ import annotations

import json
import re
from urllib.parse import unquote_to_bytes

from starlette.exceptions import HTTPException

from .mlflow.errors import error_for_path


class BodyLimit:
    """``max_bytes`` for every body, except routes in ``overrides``: (method, path regex,
    bytes), e.g. checkpoint uploads, which may be larger than any JSON request."""

    def __init__(self, app, max_bytes: int,
                 overrides: tuple[tuple[str, str, int], ...] = ()):
        self.app, self.default_bytes = app, max_bytes
        self.overrides = [(method, re.compile(pattern), limit)
                          for method, pattern, limit in overrides]

    def _limit(self, scope) -> int:
        for method, pattern, limit in self.overrides:
            if scope.get("method") == method and pattern.fullmatch(scope.get("path", "")):
                return limit
        return self.default_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        max_bytes = self._limit(scope)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > max_bytes):
            return await _send_error(scope, send, 413, "too_large",
                                     f"request body over {max_bytes} bytes")
        if b"\x00" in unquote_to_bytes(scope.get("raw_path") or b""):
            # no object's id holds a NUL: answer as for any unknown id
            return await _send_error(scope, send, 404, "not_found", "not found")
        if b"\x00" in unquote_to_bytes(scope.get("query_string") or b""):
            return await _send_error(scope, send, 422, "invalid_input",
                                     "the query string must not contain NUL characters",
                                     [{"loc": "query", "msg": "must not contain NUL characters"}])
        seen = 0

        async def limited_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > max_bytes:
                    # an HTTPException passes through FastAPI's body parsing; the app's
                    # handler turns it into the error shape
                    raise HTTPException(413, f"request body over {max_bytes} bytes")
            return message

        await self.app(scope, limited_receive, send)


async def _send_error(scope, send, status: int, code: str, message: str,
                      details: list | None = None) -> None:
    body, status = error_for_path(scope.get("path", ""), status, code, message, details)
    await _send_json(send, status, body)


async def _send_json(send, status: int, content: dict) -> None:
    body = json.dumps(content).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    """Headers every response carries: no framing (clickjacking), no MIME sniffing, no
    referrer beyond this site."""

    HEADERS = [(b"x-frame-options", b"DENY"), (b"x-content-type-options", b"nosniff"),
               (b"referrer-policy", b"same-origin")]

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message):
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + self.HEADERS
            await send(message)

        await self.app(scope, receive, with_headers)
