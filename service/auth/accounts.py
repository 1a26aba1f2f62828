"""Users, memberships and tokens: the operations behind both the admin API and the
``optrack users|members|tokens`` commands. Each writes its audit entry; the caller commits.
Creations are single statements that a concurrent twin cannot break (ON CONFLICT), so two
requests racing for one name get one success and one Conflict, never a database error."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import audit
from ..db import insert_for
from ..errors import Conflict, Forbidden, InvalidInput, NotFound
from ..models import ROLES, SCOPES, ApiToken, Membership, Project, User, new_id, utcnow
from . import tokens
from .principal import Principal


def add_user(session: Session, actor, name: str, superuser: bool = False) -> User:
    """A new user; Conflict if the name is taken."""
    inserted = session.scalar(
        insert_for(session)(User).values(id=new_id(), name=name, superuser=superuser,
                                         created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["name"]).returning(User.id))
    if inserted is None:
        raise Conflict(f"user {name!r} already exists")
    audit.record(session, actor, "user.create", target=name, superuser=superuser)
    return session.get(User, inserted)


def require_root(user: Principal) -> None:
    """Forbidden unless ``user`` is a superuser with a token not limited to projects."""
    if not user.root:
        raise Forbidden("only a superuser may do this (with a token not limited to projects)")


def list_users(session: Session, user: Principal) -> list[User]:
    require_root(user)
    return list(session.scalars(select(User).order_by(User.name)))


def get_user(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"user {name!r} not found")
    return user


def set_member(session: Session, actor, project: Project, user: User, role: str) -> Membership:
    """Give ``user`` ``role`` in ``project`` (a grant or a change of role)."""
    if role not in ROLES:
        raise InvalidInput.field("role", f"must be one of {', '.join(ROLES)}")
    stmt = insert_for(session)(Membership).values(project_id=project.id, user_id=user.id,
                                                  role=role, created_at=utcnow())
    session.execute(stmt.on_conflict_do_update(index_elements=["project_id", "user_id"],
                                               set_={"role": role}))
    audit.record(session, actor, "member.grant", project.id, user.name, role=role)
    return session.get(Membership, (project.id, user.id), populate_existing=True)


def members(session: Session, project: Project) -> list[tuple[str, str]]:
    """(user name, role) of the project's members, by name."""
    return list(session.execute(select(User.name, Membership.role).join(Membership)
                                .where(Membership.project_id == project.id)
                                .order_by(User.name)).all())


def remove_member(session: Session, actor, project: Project, user: User) -> None:
    member = session.get(Membership, (project.id, user.id))
    if member is None:
        raise NotFound(f"user {user.name!r} is not a member of {project.name!r}")
    session.delete(member)
    audit.record(session, actor, "member.revoke", project.id, user.name)


def create_token(session: Session, actor, user: User, name: str, scopes: list[str],
                 projects: list[Project] | None = None,
                 expires_in_days: float | None = None) -> tuple[ApiToken, str]:
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


def mint_token(session: Session, user: Principal, name: str, scopes: list[str],
               owner_name: str | None, projects: list[Project] | None,
               expires_in_days: float | None) -> tuple[ApiToken, str, User]:
    """A token the caller asked for over the API: for themselves, or (superusers) for
    ``owner_name``; a token limited to some projects mints only tokens limited to (some of)
    them; only superusers grant the ``metrics`` scope (server-wide figures, beyond any
    project). The row, its secret and its owner."""
    owner = session.get(User, user.user_id)
    if owner_name is not None and owner_name != owner.name:
        require_root(user)
        owner = get_user(session, owner_name)
    if "metrics" in scopes:
        require_root(user)
    if projects is None and user.token_projects is not None:
        raise InvalidInput.field("projects", "a token limited to some projects can only create "
                                             "tokens limited to (some of) them")
    row, secret = create_token(session, user, owner, name, scopes, projects, expires_in_days)
    return row, secret, owner


def list_tokens(session: Session, user: Principal,
                everyone: bool = False) -> list[tuple[ApiToken, str]]:
    """API tokens (never their secrets) with their owners' names: the caller's, or everyone's
    for a superuser."""
    if everyone:
        require_root(user)
    stmt = select(ApiToken, User.name).join(User).where(ApiToken.kind == "api")
    if not everyone:
        stmt = stmt.where(ApiToken.user_id == user.user_id)
    return list(session.execute(stmt.order_by(ApiToken.created_at)).all())


def revoke_own_token(session: Session, user: Principal, token_id: str) -> None:
    """Revoke a token of the caller's (any token, for a superuser); others are not found."""
    token = find_token(session, token_id)
    if token.user_id != user.user_id and not user.root:
        raise NotFound(f"token {token_id!r} not found")
    revoke_token(session, user, token)


def revoke_token(session: Session, actor, token: ApiToken) -> None:
    if token.revoked_at is None:
        tokens.revoke(token)
        audit.record(session, actor, "token.revoke", target=token.prefix, name=token.name)


def find_token(session: Session, token_id: str) -> ApiToken:
    """An API token by id, or by its displayed prefix."""
    token = session.get(ApiToken, token_id) or session.scalar(
        select(ApiToken).where(ApiToken.prefix == token_id, ApiToken.kind == "api"))
    if token is None or token.kind != "api":
        raise NotFound(f"token {token_id!r} not found")
    return token
