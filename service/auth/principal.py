"""Who is calling, and what they may touch.

A ``Principal`` (made by ``holder`` from a request's token) knows the token's scopes and the
user's role in each project; ``Principal.where`` turns that into a SQL condition, so every
query is confined to what the caller may see, and ``Principal.check`` answers 404 for another
project's objects, exactly as for objects that do not exist. Plain data: domain code takes it
without depending on the web framework."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, bindparam, false, select, true

from ..errors import Forbidden, NotFound
from ..models import ROLES, ApiToken, Membership, User
from . import tokens


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


_T, _U, _M = ApiToken.__table__.c, User.__table__.c, Membership.__table__.c
# the token, its user and the user's memberships (a row each, or one row of NULLs): one
# statement, built once, run for every request
_HOLDER = (select(_T.id.label("token_id"), _T.scopes, _T.projects, _T.csrf, _T.expires_at,
                  _T.revoked_at, _U.id.label("user_id"), _U.name, _U.superuser,
                  _M.project_id, _M.role)
           .select_from(ApiToken.__table__.join(User.__table__, _U.id == _T.user_id)
                        .outerjoin(Membership.__table__, _M.user_id == _U.id))
           .where(_T.hash == bindparam("hash"), _T.kind == bindparam("kind")))


def holder(conn: Connection, secret: str, kind: str,
           now: datetime | None = None) -> Principal | None:
    """The caller holding the live token of ``kind`` (api or session) with this secret; None
    when it is unknown, revoked or expired. Read afresh at every request: a revocation or a
    change of role takes effect on the next one."""
    if not tokens.well_formed(secret):
        return None
    rows = conn.execute(_HOLDER, {"hash": tokens.digest(secret), "kind": kind}).all()
    if not rows or not tokens.live(rows[0].revoked_at, rows[0].expires_at, now):
        return None
    first = rows[0]
    return Principal(user_id=first.user_id, name=first.name, superuser=first.superuser,
                     token_id=first.token_id, kind=kind, scopes=frozenset(first.scopes),
                     roles={r.project_id: r.role for r in rows if r.project_id is not None},
                     token_projects=None if first.projects is None else frozenset(first.projects),
                     csrf=first.csrf)
