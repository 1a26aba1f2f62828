"""Who is calling, and what they may touch.

A ``Principal`` (made by ``deps.authenticate`` from a request's token, or ``principal_for`` from
a token row) knows the token's scopes and the user's role in each project; ``Principal.where``
turns that into a SQL condition, so every query is confined to what the caller may see, and
``Principal.check`` answers 404 for another project's objects, exactly as for objects that do
not exist. Plain data: domain code takes it without depending on the web framework."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, false, select, true
from sqlalchemy.orm import Session

from ..errors import Forbidden, NotFound
from ..models import ROLES, ApiToken, Membership, User


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


def principal_for(session: Session, token: ApiToken, user: User, kind: str) -> Principal:
    """The caller holding ``token`` (a live token of ``user``; ``kind``: api or session)."""
    roles = dict(session.execute(select(Membership.project_id, Membership.role)
                                 .where(Membership.user_id == user.id)).all())
    limit = frozenset(token.projects) if token.projects is not None else None
    return Principal(user_id=user.id, name=user.name, superuser=user.superuser,
                     token_id=token.id, kind=kind, scopes=frozenset(token.scopes), roles=roles,
                     token_projects=limit, csrf=token.csrf)
