"""Projects: looked up by name; a superuser's first write to a new name creates it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from . import audit
from .errors import NotFound
from .models import Project, new_id


def project_id(session: Session, name: str, create: bool = False) -> str | None:
    """The id of project ``name``; with ``create``, made if missing (race-free)."""
    found = session.scalar(select(Project.id).where(Project.name == name))
    if found or not create:
        return found
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(Project).values(id=new_id(), name=name)
                    .on_conflict_do_nothing(index_elements=["name"]))
    return session.scalar(select(Project.id).where(Project.name == name))


def project_names(session: Session, ids: set[str]) -> dict[str, str]:
    rows = session.execute(select(Project.id, Project.name).where(Project.id.in_(ids)))
    return dict(rows.all())


def writable_project(session: Session, user, name: str) -> str:
    """The id of project ``name`` where ``user`` may submit (member or admin); 404 when they
    cannot see it. A superuser's first write to a new project name creates it."""
    pid = project_id(session, name)
    if pid is None and user.root:
        pid = project_id(session, name, create=True)
        audit.record(session, user, "project.create", pid, name)
    if pid is None:
        raise NotFound(f"project {name!r} not found")
    user.check(pid, "member", f"project {name!r}")
    return pid
