"""The audit log: who created, cancelled, deleted or granted what, and when. Entries are written
in the same transaction as the change they describe, so one never exists without the other."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from .models import AuditEntry, utcnow
from .query.compiler import SortKey
from .query.pagination import Keyset, fingerprint

NEWEST_FIRST = (SortKey(AuditEntry.id, descending=True, kind="integer", nullable=False),)


def record(session: Session, actor, action: str, project_id: str | None = None,
           target: str | None = None, **detail: Any) -> None:
    """``actor`` is a Principal, or a string for the command line ("cli")."""
    name = actor if isinstance(actor, str) else actor.name
    token_id = None if isinstance(actor, str) else actor.token_id
    session.add(AuditEntry(at=utcnow(), actor=name, token_id=token_id, action=action,
                           project_id=project_id, target=target, detail=detail))


def entries(session: Session, user, project_id: str | None, action: str | None, limit: int,
            page_token: str | None) -> tuple[list[AuditEntry], str | None]:
    """One page of the audit log, newest first, and the next page's token: entries of the
    projects the caller administers (a superuser also sees those of no project: users and
    tokens)."""
    allowed = user.where(AuditEntry.project_id, "admin")
    stmt = select(AuditEntry).where(or_(allowed, AuditEntry.project_id.is_(None))
                                    if user.root else allowed)
    if project_id is not None:
        stmt = stmt.where(AuditEntry.project_id == project_id)
    if action is not None:
        stmt = stmt.where(AuditEntry.action == action)
    keyset = Keyset(NEWEST_FIRST, fingerprint("audit", project_id, action))
    rows = session.scalars(keyset.select(stmt, page_token, limit)).all()
    return keyset.page(rows, limit, lambda entry: (entry.id,))
