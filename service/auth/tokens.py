"""Credentials: API tokens, browser sessions and one-time login codes, all in one table.

A token is ``otk_`` + 43 URL-safe characters (256 random bits). The database keeps only its
SHA-256 (a fast hash suffices for a secret this long, and it lets each request find its token by
index) and a short prefix to recognise it by. Revoking sets ``revoked_at``; every request looks
the token up again, so a revocation takes effect on the next request."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import ApiToken, User, utcnow

PREFIX = "otk_"
DISPLAY = 12  # characters of the token kept for display: "otk_" + 8
LOGIN_CODE_TTL = timedelta(minutes=15)


def generate() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def display_prefix(secret: str) -> str | None:
    """The public part of a token, kept for display and safe to log; None for what is not
    shaped like one (the secret itself is never shown, even a short fake one)."""
    return secret[:DISPLAY] if secret.startswith(PREFIX) and len(secret) > DISPLAY else None


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def issue(session: Session, user: User, scopes: list[str], *, kind: str = "api",
          name: str = "", projects: list[str] | None = None, ttl: timedelta | None = None,
          csrf: bool = False) -> tuple[ApiToken, str]:
    """A new token for ``user``: the row (to add to the session) and the secret, which is
    shown once and never stored."""
    secret = generate()
    row = ApiToken(user_id=user.id, kind=kind, name=name, prefix=display_prefix(secret),
                   hash=digest(secret), scopes=sorted(set(scopes)), projects=projects,
                   csrf=secrets.token_urlsafe(32) if csrf else None, created_at=utcnow(),
                   expires_at=utcnow() + ttl if ttl else None)
    session.add(row)
    return row, secret


def login_code(session: Session, user: User) -> str:
    """A one-time code for ``/login?code=…`` (15 minutes): the dashboard sign-in link."""
    _, secret = issue(session, user, [], kind="login", name="login link", ttl=LOGIN_CODE_TTL)
    return secret


def lookup(session: Session, secret: str, kind: str,
           now: datetime | None = None) -> tuple[ApiToken, User] | None:
    """The live token of ``kind`` with this secret, and its user; None when unknown, revoked
    or expired."""
    if not well_formed(secret):
        return None
    found = session.execute(select(ApiToken, User).join(User, User.id == ApiToken.user_id)
                            .where(ApiToken.hash == digest(secret),
                                   ApiToken.kind == kind)).first()
    if found is None:
        return None
    token, user = found
    return (token, user) if live(token.revoked_at, token.expires_at, now) else None


def well_formed(secret: str) -> bool:
    """Shaped like a token (anything else is not looked up)."""
    return secret.startswith(PREFIX) and len(secret) <= 200


def live(revoked_at: datetime | None, expires_at: datetime | None,
         now: datetime | None = None) -> bool:
    """A token neither revoked nor expired (at ``now``)."""
    now = now or utcnow()
    return revoked_at is None and (expires_at is None or expires_at > now)


def revoke(token: ApiToken) -> None:
    """The one way a token is revoked (at once: every request looks its token up again)."""
    if token.revoked_at is None:
        token.revoked_at = utcnow()


def same(a: str | None, b: str | None) -> bool:
    """Constant-time comparison of two secrets (False when either is missing)."""
    return bool(a) and bool(b) and secrets.compare_digest(a.encode(), b.encode())
