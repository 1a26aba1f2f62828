"""/api/v1 teams and security: who am I, users, projects, members, tokens, the audit log."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import or_, select

from ..admin_schemas import (AuditOut, AuditPage, Me, MemberOut, MemberSet, ProjectCreate,
                             ProjectOut, TokenCreate, TokenCreated, TokenOut, UserCreate, UserOut)
from ..auth import CurrentUser, Principal, admin, scope
from ..deps import ReadSession, SettingsDep, WriteSession
from ..errors import Forbidden, InvalidInput, NotFound
from ..models import ApiToken, AuditEntry, Membership, Project, User
from ..projects import project_names

router = APIRouter(prefix="/api/v1", tags=["teams"])
READ, WRITE, ADMIN = scope("read"), scope("write"), scope("admin")


def _superuser(user: Principal) -> None:
    if not user.root:
        raise Forbidden("only a superuser may do this (with a token not limited to projects)")


@router.get("/me", response_model=Me, dependencies=[READ])
def me(session: ReadSession, user: CurrentUser) -> Me:
    """The caller: name, token scopes and role per project (a superuser: every project)."""
    rows = session.execute(select(Project.id, Project.name).where(user.where(Project.id)))
    return Me(name=user.name, superuser=user.superuser, scopes=sorted(user.scopes),
              projects={name: user.role(pid) for pid, name in rows if user.role(pid)})


@router.get("/users", response_model=list[UserOut], dependencies=[ADMIN])
def list_users(session: ReadSession, user: CurrentUser) -> list[UserOut]:
    _superuser(user)
    return [UserOut(name=u.name, superuser=u.superuser, created_at=u.created_at)
            for u in session.scalars(select(User).order_by(User.name))]


@router.post("/users", status_code=201, response_model=UserOut, dependencies=[ADMIN])
def create_user(body: UserCreate, session: WriteSession, user: CurrentUser) -> UserOut:
    _superuser(user)
    created = admin.add_user(session, user, body.name, body.superuser)
    session.commit()
    return UserOut(name=created.name, superuser=created.superuser, created_at=created.created_at)


@router.get("/projects", response_model=list[ProjectOut], dependencies=[READ])
def list_projects(session: ReadSession, user: CurrentUser) -> list[ProjectOut]:
    """The projects the caller can see, with the caller's role."""
    rows = session.scalars(select(Project).where(user.where(Project.id)).order_by(Project.name))
    return [ProjectOut(name=p.name, role=user.role(p.id), created_at=p.created_at) for p in rows]


@router.post("/projects", status_code=201, response_model=ProjectOut, dependencies=[WRITE])
def create_project(body: ProjectCreate, session: WriteSession, user: CurrentUser) -> ProjectOut:
    """A new project; its creator becomes its admin."""
    if user.token_projects is not None:
        raise Forbidden("a token limited to some projects cannot create projects")
    owner = session.get(User, user.user_id)
    project = admin.add_project(session, user, body.name, owner)
    session.commit()
    return ProjectOut(name=project.name, role="admin", created_at=project.created_at)


def _project(session, user: Principal, name: str, min_role: str) -> Project:
    project = session.scalar(select(Project).where(Project.name == name))
    if project is None:
        raise NotFound(f"project {name!r} not found")
    user.check(project.id, min_role, f"project {name!r}")
    return project


@router.get("/projects/{name}/members", response_model=list[MemberOut], dependencies=[READ])
def list_members(name: str, session: ReadSession, user: CurrentUser) -> list[MemberOut]:
    project = _project(session, user, name, "viewer")
    rows = session.execute(select(User.name, Membership.role).join(Membership)
                           .where(Membership.project_id == project.id).order_by(User.name))
    return [MemberOut(user=u, role=r) for u, r in rows]


@router.put("/projects/{name}/members/{user_name}", response_model=MemberOut,
            dependencies=[ADMIN])
def set_member(name: str, user_name: str, body: MemberSet, session: WriteSession,
               user: CurrentUser) -> MemberOut:
    """Grant ``user_name`` a role in the project (project admins)."""
    project = _project(session, user, name, "admin")
    member = admin.set_member(session, user, project, admin.get_user(session, user_name),
                              body.role)
    session.commit()
    return MemberOut(user=user_name, role=member.role)


@router.delete("/projects/{name}/members/{user_name}", status_code=204, dependencies=[ADMIN])
def remove_member(name: str, user_name: str, session: WriteSession, user: CurrentUser) -> None:
    project = _project(session, user, name, "admin")
    admin.remove_member(session, user, project, admin.get_user(session, user_name))
    session.commit()


def _token_view(token: ApiToken, owner: str, names: dict[str, str]) -> dict:
    return dict(id=token.id, name=token.name, prefix=token.prefix, user=owner,
                scopes=token.scopes, created_at=token.created_at, expires_at=token.expires_at,
                revoked_at=token.revoked_at,
                projects=None if token.projects is None else [names.get(p, p)
                                                               for p in token.projects])


@router.get("/tokens", response_model=list[TokenOut], dependencies=[ADMIN])
def list_tokens(session: ReadSession, user: CurrentUser,
                all: bool = Query(False, description="every user's tokens (superusers)")
                ) -> list[TokenOut]:
    """API tokens (never their secrets): yours, or everyone's for a superuser with ``all``."""
    if all:
        _superuser(user)
    stmt = select(ApiToken, User.name).join(User).where(ApiToken.kind == "api")
    if not all:
        stmt = stmt.where(ApiToken.user_id == user.user_id)
    rows = session.execute(stmt.order_by(ApiToken.created_at)).all()
    names = project_names(session, {p for t, _ in rows for p in t.projects or []})
    return [TokenOut(**_token_view(t, owner, names)) for t, owner in rows]


@router.post("/tokens", status_code=201, response_model=TokenCreated, dependencies=[ADMIN])
def create_token(body: TokenCreate, request: Request, session: WriteSession,
                 user: CurrentUser) -> TokenCreated:
    """A new API token; its secret is in this response only. Rate-limited."""
    request.app.state.token_limiter.check(_client(request), "token creation")
    owner = session.get(User, user.user_id)
    if body.user is not None and body.user != owner.name:
        _superuser(user)
        owner = admin.get_user(session, body.user)
    projects = None
    if body.projects is not None:
        projects = [_project(session, user, p, "viewer") for p in body.projects]
    elif user.token_projects is not None:
        raise InvalidInput.field("projects", "a token limited to some projects can only create "
                                             "tokens limited to (some of) them")
    row, secret = admin.create_token(session, user, owner, body.name, list(body.scopes),
                                     projects, body.expires_in_days)
    session.commit()
    names = {p.id: p.name for p in projects or []}
    return TokenCreated(token=secret, **_token_view(row, owner.name, names))


@router.delete("/tokens/{token_id}", status_code=204, dependencies=[ADMIN])
def revoke_token(token_id: str, session: WriteSession, user: CurrentUser) -> Response:
    """Revoke a token at once (yours; any for a superuser)."""
    token = admin.find_token(session, token_id)
    if token.user_id != user.user_id and not user.root:
        raise NotFound(f"token {token_id!r} not found")
    admin.revoke_token(session, user, token)
    session.commit()
    return Response(status_code=204)


@router.get("/audit", response_model=AuditPage, dependencies=[ADMIN])
def audit_log(session: ReadSession, settings: SettingsDep, user: CurrentUser,
              project: str | None = Query(None, max_length=100),
              action: str | None = Query(None, max_length=64),
              limit: int = Query(100, ge=1),
              page_token: str | None = Query(None, max_length=30)) -> AuditPage:
    """The audit log, newest first: entries of the projects you administer (a superuser
    sees every entry, including those about users and tokens)."""
    if limit > settings.max_page_size:
        raise InvalidInput.field("limit", f"must be <= {settings.max_page_size}")
    allowed = user.where(AuditEntry.project_id, "admin")
    stmt = select(AuditEntry).where(or_(allowed, AuditEntry.project_id.is_(None))
                                    if user.root else allowed)
    if project is not None:
        stmt = stmt.where(AuditEntry.project_id == _project(session, user, project, "admin").id)
    if action is not None:
        stmt = stmt.where(AuditEntry.action == action)
    if page_token is not None:
        if not page_token.isdigit():
            raise InvalidInput.field("page_token", "is not a token this server issued")
        stmt = stmt.where(AuditEntry.id < int(page_token))
    rows = session.scalars(stmt.order_by(AuditEntry.id.desc()).limit(limit + 1)).all()
    names = project_names(session, {r.project_id for r in rows if r.project_id})
    entries = [AuditOut(id=r.id, at=r.at, actor=r.actor, action=r.action,
                        project=names.get(r.project_id), target=r.target, detail=r.detail)
               for r in rows[:limit]]
    token = str(rows[limit - 1].id) if len(rows) > limit else None
    return AuditPage(entries=entries, next_page_token=token)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"
