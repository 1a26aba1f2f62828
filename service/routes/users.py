"""/api/v1/me and /api/v1/users: who is calling; the server's users (superusers)."""

from __future__ import annotations

from fastapi import APIRouter

from ..auth import accounts
from ..deps import CurrentUser, ReadSession, WriteSession, scope
from ..projects import list_projects
from ..schemas.teams import Me, UserCreate, UserOut

router = APIRouter(prefix="/api/v1", tags=["teams"])


@router.get("/me", response_model=Me, dependencies=[scope("read")])
def me(session: ReadSession, user: CurrentUser) -> Me:
    """The caller: name, token scopes and role per project (a superuser: every project)."""
    return Me(name=user.name, superuser=user.superuser, scopes=sorted(user.scopes),
              projects={p.name: user.role(p.id) for p in list_projects(session, user)
                        if user.role(p.id)})


@router.get("/users", response_model=list[UserOut], dependencies=[scope("admin")])
def list_users(session: ReadSession, user: CurrentUser) -> list[UserOut]:
    return [UserOut(name=u.name, superuser=u.superuser, created_at=u.created_at)
            for u in accounts.list_users(session, user)]


@router.post("/users", status_code=201, response_model=UserOut, dependencies=[scope("admin")])
def create_user(body: UserCreate, session: WriteSession, user: CurrentUser) -> UserOut:
    accounts.require_root(user)
    created = accounts.add_user(session, user, body.name, body.superuser)
    session.commit()
    return UserOut(name=created.name, superuser=created.superuser, created_at=created.created_at)
