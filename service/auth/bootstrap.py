"""The zero-configuration start: the first ``optrack up`` creates a local superuser ``admin``
and its token (no default password exists anywhere), and each start mints a token for its
workers and a one-time login link for the dashboard."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Project, User
from . import admin, tokens

LOGIN_CODE_TTL = timedelta(minutes=15)
ADMIN_SCOPES = ["read", "write", "admin"]


def ensure_admin(session: Session, name: str = "admin") -> tuple[User, str | None]:
    """The first superuser, created with the ``default`` project and an API token when there is
    no superuser yet. Returns the user and the new token's secret (None if it existed)."""
    existing = session.scalar(select(User).where(User.superuser.is_(True))
                              .order_by(User.created_at).limit(1))
    if existing is not None:
        return existing, None
    taken = set(session.scalars(select(User.name).where(User.name.startswith(name))))
    name = next(n for n in [name, *(f"{name}-{i}" for i in range(1, len(taken) + 2))]
                if n not in taken)  # "admin", or "admin-1" if a plain user is called admin
    user = admin.add_user(session, "cli", name, superuser=True)
    project = session.scalar(select(Project).where(Project.name == "default"))
    if project is None:
        admin.add_project(session, "cli", "default", user)
    else:
        admin.set_member(session, "cli", project, user, "admin")
    _, secret = admin.create_token(session, "cli", user, "local admin (optrack up)", ADMIN_SCOPES)
    return user, secret


def login_code(session: Session, user: User) -> str:
    """A one-time code for ``/login?code=…``, valid for 15 minutes."""
    _, secret = tokens.issue(session, user, [], kind="login", name="login link",
                             ttl=LOGIN_CODE_TTL)
    return secret
