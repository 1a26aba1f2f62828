"""Who is calling, and what they may touch.

``authenticate`` finds the caller from ``Authorization: Bearer <token>`` or, for the dashboard,
the session cookie (then a state-changing request must also carry the session's CSRF token in
``X-CSRF-Token``). The resulting ``Principal`` knows the token's scopes and the user's role in
each project; ``Principal.where`` turns that into a SQL condition, so every query is confined to
what the caller may see, and ``Principal.check`` answers 404 for another project's objects,
exactly as for objects that do not exist."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPBearer
from sqlalchemy import ColumnElement, false, select, true
from sqlalchemy.orm import Session

from ..errors import Forbidden, NotFound, Unauthenticated
from ..models import ROLES, Membership
from . import tokens

SESSION_COOKIE = "optrack_session"
CSRF_COOKIE = "optrack_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# declared in the OpenAPI schema (clients and fuzzers see that every operation needs one of
# them); the credentials themselves are read and checked by ``identify``
BEARER = HTTPBearer(auto_error=False, description="an API token: Authorization: Bearer otk_…")
COOKIE = APIKeyCookie(name=SESSION_COOKIE, auto_error=False,
                      description="the dashboard's session (writes also need X-CSRF-Token)")


def rank(role: str | None) -> int:
    return ROLES.index(role) + 1 if role in ROLES else 0


@dataclass(frozen=True)
class Principal:
    user_id: str
    name: str
    superuser: bool
    token_id: str
    kind: str  # api or session
    scopes: frozenset[str]
    roles: dict[str, str]  # project id -> role (a superuser is admin everywhere)
    token_projects: frozenset[str] | None  # the token's own limit, if any
    csrf: str | None = None

    @property
    def root(self) -> bool:
        """A superuser whose token is not limited to some projects: the server-wide views
        (users, every token, audit entries of no project) are theirs alone."""
        return self.superuser and self.token_projects is None

    def role(self, project_id: str) -> str | None:
        if self.token_projects is not None and project_id not in self.token_projects:
            return None
        return "admin" if self.superuser else self.roles.get(project_id)

    def projects(self, min_role: str = "viewer") -> list[str] | None:
        """Project ids where the caller has at least ``min_role``; None means every project."""
        if self.superuser:
            return None if self.token_projects is None else sorted(self.token_projects)
        return sorted(p for p in self.roles if rank(self.role(p)) >= rank(min_role))

    def where(self, column, min_role: str = "viewer") -> ColumnElement[bool]:
        """SQL: ``column`` (a project id) is one the caller may see with ``min_role``."""
        ids = self.projects(min_role)
        if ids is None:
            return true()
        return column.in_(ids) if ids else false()

    def check(self, project_id: str, min_role: str, what: str) -> None:
        """NotFound if the caller cannot see the project at all; Forbidden if they can but
        lack ``min_role``."""
        role = self.role(project_id)
        if role is None:
            raise NotFound(f"{what} not found")
        if rank(role) < rank(min_role):
            raise Forbidden(f"your role in this project is {role}; this needs {min_role}")

    def require_scope(self, scope: str) -> None:
        if scope not in self.scopes:
            raise Forbidden(f"this token lacks the {scope!r} scope",
                            [{"loc": "authorization", "msg": f"needs scope {scope}"}])


def _principal(session: Session, token, user, kind: str) -> Principal:
    roles = dict(session.execute(select(Membership.project_id, Membership.role)
                                 .where(Membership.user_id == user.id)).all())
    limit = frozenset(token.projects) if token.projects is not None else None
    return Principal(user_id=user.id, name=user.name, superuser=user.superuser,
                     token_id=token.id, kind=kind, scopes=frozenset(token.scopes), roles=roles,
                     token_projects=limit, csrf=token.csrf)


def identify(request: Request, session: Session) -> Principal | None:
    """The caller, or None without valid credentials (the CSRF check is separate)."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, secret = header.partition(" ")
        found = tokens.lookup(session, secret.strip(), "api") if scheme.lower() == "bearer" else None
        if found is None:
            raise Unauthenticated("the bearer token is unknown, revoked or expired")
        return _principal(session, *found, kind="api")
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        found = tokens.lookup(session, cookie, "session")
        if found is not None:
            return _principal(session, *found, kind="session")
    return None


def authenticate(request: Request, _bearer=Depends(BEARER), _cookie=Depends(COOKIE)) -> Principal:
    """Dependency: the caller, or 401. Cookie sessions must show the CSRF token for writes."""
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    with request.app.state.reader() as session:
        principal = identify(request, session)
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

    def dependency(request: Request, principal: CurrentUser) -> Principal:
        principal.require_scope(name or ("read" if request.method in SAFE_METHODS else "write"))
        return principal

    return Depends(dependency)
