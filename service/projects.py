"""Projects: looked up by name; created on first write."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

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
