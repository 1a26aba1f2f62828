"""Users, projects, memberships and tokens: the operations behind both the admin API and the
``optrack users|projects|members|tokens`` commands. Each writes its audit entry; the caller
commits."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import audit
from ..errors import Conflict, InvalidInput, NotFound
from ..models import ROLES, SCOPES, ApiToken, Membership, Project, User, utcnow


def add_user(session: Session, actor, name: str, superuser: bool = False) -> User:
    if session.scalar(select(User.id).where(User.name == name)):
        raise Conflict(f"user {name!r} already exists")
    user = User(name=name, superuser=superuser, created_at=utcnow())
    session.add(user)
    session.flush()
    audit.record(session, actor, "user.create", target=name, superuser=superuser)
    return user


def get_user(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"user {name!r} not found")
    return user


def add_project(session: Session, actor, name: str, owner: User | None) -> Project:
    """A new project; ``owner`` (if any) becomes its admin."""
    if session.scalar(select(Project.id).where(Project.name == name)):
        raise Conflict(f"project {name!r} already exists")
    project = Project(name=name, created_at=utcnow())
    session.add(project)
    session.flush()
    audit.record(session, actor, "project.create", project.id, name)
    if owner is not None:
        set_member(session, actor, project, owner, "admin")
    return project


def get_project(session: Session, name: str) -> Project:
    project = session.scalar(select(Project).where(Project.name == name))
    if project is None:
        raise NotFound(f"project {name!r} not found")
    return project


def set_member(session: Session, actor, project: Project, user: User, role: str) -> Membership:
    if role not in ROLES:
        raise InvalidInput.field("role", f"must be one of {', '.join(ROLES)}")
    member = session.get(Membership, (project.id, user.id))
    if member is None:
        member = Membership(project_id=project.id, user_id=user.id, role=role,
                            created_at=utcnow())
        session.add(member)
    member.role = role
    audit.record(session, actor, "member.grant", project.id, user.name, role=role)
    return member


def remove_member(session: Session, actor, project: Project, user: User) -> None:
    member = session.get(Membership, (project.id, user.id))
    if member is None:
        raise NotFound(f"user {user.name!r} is not a member of {project.name!r}")
    session.delete(member)
    audit.record(session, actor, "member.revoke", project.id, user.name)


def create_token(session: Session, actor, user: User, name: str, scopes: list[str],
                 projects: list[Project] | None = None,
                 expires_in_days: float | None = None) -> tuple[ApiToken, str]:
    from . import tokens

    unknown = sorted(set(scopes) - set(SCOPES))
    if not scopes or unknown:
        raise InvalidInput.field("scopes", f"must be a non-empty list of {', '.join(SCOPES)}")
    if expires_in_days is not None and not 0 < expires_in_days <= 3650:
        raise InvalidInput.field("expires_in_days", "must be in (0, 3650]")
    ttl = timedelta(days=expires_in_days) if expires_in_days else None
    row, secret = tokens.issue(session, user, scopes, name=name, ttl=ttl,
                               projects=None if projects is None else [p.id for p in projects])
    session.flush()
    audit.record(session, actor, "token.create", target=row.prefix, user=user.name,
                 scopes=sorted(scopes), name=name,
                 projects=None if projects is None else [p.name for p in projects])
    return row, secret


def revoke_token(session: Session, actor, token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record(session, actor, "token.revoke", target=token.prefix, name=token.name)


def find_token(session: Session, token_id: str) -> ApiToken:
    """An API token by id, or by its displayed prefix."""
    token = session.get(ApiToken, token_id) or session.scalar(
        select(ApiToken).where(ApiToken.prefix == token_id, ApiToken.kind == "api"))
    if token is None or token.kind != "api":
        raise NotFound(f"token {token_id!r} not found")
    return token
