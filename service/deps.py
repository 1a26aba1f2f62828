"""Request dependencies, as Annotated aliases: sessions, settings, and the caller.

``authenticate`` finds the caller from ``Authorization: Bearer <token>`` or, for the dashboard,
the session cookie (then a state-changing request must also carry the session's CSRF token in
``X-CSRF-Token``); ``scope(name)`` guards a router by the token's scope."""

from __future__ import annotations

from typing import Annotated, AsyncIterator, Callable, TypeVar

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyCookie, HTTPBearer
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from .auth import tokens
from .auth.principal import Principal, holder
from .errors import Forbidden, Unauthenticated
from .settings import Settings

SESSION_COOKIE = "optrack_session"
CSRF_COOKIE = "optrack_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
T = TypeVar("T")
# declared in the OpenAPI schema (clients and fuzzers see that every operation needs one of
# them); the credentials themselves are read and checked by ``identify``
BEARER = HTTPBearer(auto_error=False, description="an API token: Authorization: Bearer otk_…")
COOKIE = APIKeyCookie(name=SESSION_COOKIE, auto_error=False,
                      description="the dashboard's session (writes also need X-CSRF-Token)")


async def _writer(request: Request) -> AsyncIterator[Session]:
    """A session for a write; the route commits before it returns (the request owns the
    transaction), anything uncommitted is rolled back here."""
    session = request.app.state.writer()
    try:
        yield session
    finally:
        await _close(session)


async def _reader(request: Request) -> AsyncIterator[Session]:
    session = request.app.state.reader()
    try:
        yield session
    finally:
        await _close(session)


async def _close(session: Session) -> None:
    """Making a session does no I/O, nor does closing one that holds no connection (committed,
    or never used): those stay on the event loop, saving two trips through the thread pool per
    request. A rollback over the network (PostgreSQL) goes to the pool."""
    if session.in_transaction() and session.get_bind().dialect.name != "sqlite":
        await run_in_threadpool(session.close)
    else:
        session.close()


async def _settings(request: Request) -> Settings:
    return request.app.state.settings


WriteSession = Annotated[Session, Depends(_writer)]
ReadSession = Annotated[Session, Depends(_reader)]
SettingsDep = Annotated[Settings, Depends(_settings)]


def identify(request: Request, conn: Connection) -> Principal | None:
    """The caller, or None without valid credentials (the CSRF check is separate)."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer":
            raise Unauthenticated(f"{scheme[:20] or 'these'} credentials are not accepted: "
                                  f"send an API token as 'Authorization: Bearer otk_…'")
        found = holder(conn, secret.strip(), "api")
        if found is None:
            raise Unauthenticated("the bearer token is unknown, revoked or expired")
        return found
    cookie = request.cookies.get(SESSION_COOKIE)
    return holder(conn, cookie, "session") if cookie else None


async def small_read(request: Request, read: Callable[[Connection], T]) -> T:
    """``read(conn)`` on a connection of the read engine, for a read of a few indexed rows. On
    SQLite (a local file in WAL mode, whose readers no writer blocks) it runs on the event loop,
    saving the request a trip through the thread pool; a database over the network is waited
    for on the pool."""
    def run() -> T:
        with request.app.state.read_engine.connect() as conn:
            return read(conn)

    if request.app.state.read_engine.dialect.name == "sqlite":
        return run()
    return await run_in_threadpool(run)


async def authenticate(request: Request, _bearer=Depends(BEARER),
                       _cookie=Depends(COOKIE)) -> Principal:
    """Dependency: the caller, or 401. Cookie sessions must show the CSRF token for writes."""
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    principal = await small_read(request, lambda conn: identify(request, conn))
    if principal is None:
        raise Unauthenticated("authentication required: send 'Authorization: Bearer <token>'")
    if principal.kind == "session" and request.method not in SAFE_METHODS:
        if not tokens.same(request.headers.get(CSRF_HEADER), principal.csrf):
            raise Forbidden("missing or wrong CSRF token",
                            [{"loc": CSRF_HEADER, "msg": "must equal the session's CSRF token"}])
    request.state.principal = principal
    return principal


CurrentUser = Annotated[Principal, Depends(authenticate)]


def scope(name: str | None = None):
    """Router dependency: authenticated with scope ``name`` (None: read for safe methods,
    write for the others)."""

    # async: no I/O, so no trip through the thread pool
    async def dependency(request: Request, principal: CurrentUser) -> Principal:
        principal.require_scope(name or ("read" if request.method in SAFE_METHODS else "write"))
        return principal

    return Depends(dependency)
