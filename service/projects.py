"""Projects: created one way (a single INSERT … ON CONFLICT DO NOTHING, so concurrent creations
of one name give one project and, for the others, Conflict or the existing project), looked up
by name, and checked for the caller's role."""

from __future__ import annotations

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from . import audit
from .auth.accounts import set_member
from .db import insert_for
from .errors import Conflict, Forbidden, NotFound
from .models import Project, User, new_id, utcnow


def create_project(session: Session, actor, name: str, owner: User | None = None,
                   exist_ok: bool = False) -> Project:
    """A new project (Conflict if the name is taken, unless ``exist_ok``: then the existing
    one); ``owner`` becomes the new project's admin. Audited."""
    created = session.scalar(
        insert_for(session)(Project).values(id=new_id(), name=name, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["name"]).returning(Project.id))
    if created is None:
        if exist_ok:
            return get_project(session, name)
        raise Conflict(f"project {name!r} already exists")
    project = session.get(Project, created)
    audit.record(session, actor, "project.create", project.id, name)
    if owner is not None:
        set_member(session, actor, project, owner, "admin")
    return project


def get_project(session: Session, name: str) -> Project:
    project = session.scalar(select(Project).where(Project.name == name))
    if project is None:
        raise NotFound(f"project {name!r} not found")
    return project


def visible_project(session: Session, user, name: str, min_role: str = "viewer") -> Project:
    """Project ``name`` if ``user`` has ``min_role`` in it; NotFound when they cannot see it
    (as if it did not exist), Forbidden when they can but lack the role."""
    project = session.scalar(select(Project).where(Project.name == name))
    if project is None:
        raise NotFound(f"project {name!r} not found")
    user.check(project.id, min_role, f"project {name!r}")
    return project


def writable_project(session: Session, user, name: str) -> str:
    """The id of project ``name`` where ``user`` may submit (member or admin); 404 when they
    cannot see it. A superuser's first write to a new project name creates it."""
    if user.root and session.scalar(select(Project.id).where(Project.name == name)) is None:
        return create_project(session, user, name, exist_ok=True).id
    return visible_project(session, user, name, "member").id


def roles_by_name(conn: Connection, user) -> dict[str, str]:
    """project name → the caller's role, for every project they have a role in."""
    ids = user.projects()
    if ids is None:  # a superuser: every project
        ids = list(conn.scalars(select(Project.id)))
    names = project_names(conn, set(ids))
    return {names[i]: user.role(i) for i in ids if i in names and user.role(i)}


def list_projects(session: Session, user) -> list[Project]:
    """The projects the caller can see, by name."""
    return list(session.scalars(select(Project).where(user.where(Project.id))
                                .order_by(Project.name)))


def create_own_project(session: Session, user, name: str) -> Project:
    """A project created over the API: its creator becomes its admin. A token limited to some
    projects cannot create any."""
    if user.token_projects is not None:
        raise Forbidden("a token limited to some projects cannot create projects")
    return create_project(session, user, name, session.get(User, user.user_id))


# id → name, kept per process: a project is never renamed nor deleted, and every view of a run,
# an experiment or a token names its project (one query a request saved)
_NAMES: dict[str, str] = {}


def project_names(session: Session | Connection, ids: set[str]) -> dict[str, str]:
    """project id → name, for those of ``ids`` that exist."""
    missing = ids - _NAMES.keys()
    if missing:
        found = session.execute(select(Project.id, Project.name)
                                .where(Project.id.in_(missing))).all()
        if len(_NAMES) > 100_000:
            _NAMES.clear()
        _NAMES.update(found)
    return {i: _NAMES[i] for i in ids if i in _NAMES}
