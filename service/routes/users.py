"""/api/v1/me and /api/v1/users: who is calling; the server's users (superusers)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from ..auth import accounts
from ..deps import CurrentUser, ReadSession, WriteSession, scope, small_read
from ..projects import roles_by_name
from ..schemas.teams import Me, UserCreate, UserOut

router = APIRouter(prefix="/api/v1", tags=["teams"])


@router.get("/me", response_model=Me, dependencies=[scope("read")])
async def me(request: Request, user: CurrentUser) -> Me:
    """The caller: name, token scopes and role per project (a superuser: every project)."""
    roles = await small_read(request, lambda conn: roles_by_name(conn, user))
    return Me(name=user.name, superuser=user.superuser, scopes=sorted(user.scopes),
              projects=dict(sorted(roles.items())))


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
