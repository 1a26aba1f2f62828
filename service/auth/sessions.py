"""Browser sessions: opened from a one-time login link (``/login?code=…``, printed by ``optrack
up`` and ``optrack login-link``) or a pasted API token, ended by signing out. A session is a
token of kind ``session`` (the database keeps its hash) with a CSRF token that every
state-changing request must echo; the cookies that carry them are the dashboard's business."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from .. import audit
from ..models import ApiToken
from . import tokens

SESSION_SCOPES = {"read", "write", "admin"}


def open_session(session: Session, code: str, token: str,
                 hours: float) -> tuple[str, str] | None:
    """A browser session opened with a one-time login code (every session scope) or an API
    token (its scopes, capped to the session scopes, and its project limit): the session's
    secret and CSRF token, or None when the code or token is unknown, used, revoked, expired
    or grants no session scope. A login code works once."""
    if code:
        found = tokens.lookup(session, code, "login")
        scopes, projects = sorted(SESSION_SCOPES), None
    elif token:
        found = tokens.lookup(session, token, "api")
        if found is not None:
            scopes, projects = sorted(SESSION_SCOPES & set(found[0].scopes)), found[0].projects
    else:
        return None
    if found is None or not scopes:
        return None
    used, user = found
    if used.kind == "login":
        tokens.revoke(used)
    row, secret = tokens.issue(session, user, scopes, kind="session", name="browser session",
                               projects=projects, ttl=timedelta(hours=hours), csrf=True)
    audit.record(session, user.name, "session.open", target=row.prefix,
                 via="login link" if code else f"token {used.prefix}")
    return secret, row.csrf


def end_session(session: Session, token_id: str) -> None:
    """Sign out: the session's token is revoked at once."""
    tokens.revoke(session.get(ApiToken, token_id))
