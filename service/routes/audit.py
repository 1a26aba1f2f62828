"""/api/v1/audit: who did what, newest first, a page at a time."""

from __future__ import annotations

from fastapi import APIRouter, Query

from .. import audit
from ..deps import CurrentUser, ReadSession, SettingsDep, scope
from ..errors import InvalidInput
from ..projects import project_names, visible_project
from ..schemas.teams import AuditOut, AuditPage

router = APIRouter(prefix="/api/v1", tags=["teams"], dependencies=[scope("admin")])


@router.get("/audit", response_model=AuditPage)
def audit_log(session: ReadSession, settings: SettingsDep, user: CurrentUser,
              project: str | None = Query(None, max_length=100),
              action: str | None = Query(None, max_length=64),
              limit: int = Query(100, ge=1),
              page_token: str | None = Query(None, max_length=200)) -> AuditPage:
    """The audit log, newest first: entries of the projects you administer (a superuser
    sees every entry, including those about users and tokens)."""
    if limit > settings.max_page_size:
        raise InvalidInput.field("limit", f"must be <= {settings.max_page_size}")
    project_id = None if project is None else visible_project(session, user, project,
                                                              "admin").id
    rows, token = audit.entries(session, user, project_id, action, limit, page_token)
    names = project_names(session, {r.project_id for r in rows if r.project_id})
    return AuditPage(entries=[AuditOut(id=r.id, at=r.at, actor=r.actor, action=r.action,
                                       project=names.get(r.project_id), target=r.target,
                                       detail=r.detail) for r in rows],
                     next_page_token=token)
