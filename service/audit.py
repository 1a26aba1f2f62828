"""The audit log: who created, cancelled, deleted or granted what, and when. Entries are written
in the same transaction as the change they describe, so one never exists without the other."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from .models import AuditEntry, utcnow


def record(session: Session, actor, action: str, project_id: str | None = None,
           target: str | None = None, **detail: Any) -> None:
    """``actor`` is a Principal, or a string for the command line ("cli")."""
    name = actor if isinstance(actor, str) else actor.name
    token_id = None if isinstance(actor, str) else actor.token_id
    session.add(AuditEntry(at=utcnow(), actor=name, token_id=token_id, action=action,
                           project_id=project_id, target=target, detail=detail))
