"""Signing in to the dashboard: a one-time login link (``/login?code=…``, printed by ``optrack
up`` and ``optrack login-link``) or an API token pasted into the login page opens a browser
session — an HttpOnly, SameSite=Strict cookie holding a session token whose hash the database
keeps, plus a CSRF token every state-changing request must echo in ``X-CSRF-Token``."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from .. import audit
from ..auth import tokens
from ..deps import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE, identify
from ..models import ApiToken, utcnow
from .templating import templates

router = APIRouter(include_in_schema=False)
SESSION_SCOPES = {"read", "write", "admin"}
MAX_FORM_BYTES = 4096


def safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no host, no ``//``): no open redirects."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target


def login_page(request: Request, error: str | None = None, status_code: int = 200,
               code: str = "", next_path: str = "/") -> HTMLResponse:
    return templates.TemplateResponse(request, "login.html", {
        "title": "Sign in", "error": error, "code": code, "next": safe_next(next_path),
        "user": None}, status_code=status_code)


@router.get("/login")
def login_form(request: Request, code: str = "", next: str = "/") -> HTMLResponse:
    return login_page(request, code=code[:200], next_path=next)


@router.post("/login")
async def login(request: Request) -> Response:
    request.app.state.login_limiter.check(request.client.host if request.client else "?",
                                          "sign-in")
    body = await request.body()
    form = {k: v[0] for k, v in parse_qs(body[:MAX_FORM_BYTES].decode("utf-8", "replace")).items()}
    next_path = safe_next(form.get("next"))
    with request.app.state.writer() as session:
        opened = _open_session(session, form.get("code", "").strip(), form.get("token", "").strip(),
                               request.app.state.settings.session_hours)
        if opened is None:
            return login_page(request, "That link or token is unknown, used, revoked or expired.",
                              401, next_path=next_path)
        secret, csrf = opened
        session.commit()
    response = RedirectResponse(next_path, status_code=303)
    _set_cookies(request, response, secret, csrf, request.app.state.settings.session_hours)
    return response


def _open_session(session, code: str, token: str, hours: float) -> tuple[str, str] | None:
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
        used.revoked_at = utcnow()  # a login link works once
    row, secret = tokens.issue(session, user, scopes, kind="session", name="browser session",
                               projects=projects, ttl=timedelta(hours=hours), csrf=True)
    audit.record(session, user.name, "session.open", target=row.prefix,
                 via="login link" if code else f"token {used.prefix}")
    return secret, row.csrf


def _set_cookies(request: Request, response: Response, secret: str, csrf: str,
                 hours: float) -> None:
    secure = request.url.scheme == "https"
    age = int(hours * 3600)
    response.set_cookie(SESSION_COOKIE, secret, max_age=age, httponly=True, samesite="strict",
                        secure=secure, path="/")
    response.set_cookie(CSRF_COOKIE, csrf, max_age=age, httponly=False, samesite="strict",
                        secure=secure, path="/")


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the browser session (the CSRF token must come in the header or the form). Cookies
    are cleared only when a session really ended: a forged cross-site post, which arrives
    without the SameSite cookie, must not sign anyone out."""
    response = RedirectResponse("/login", status_code=303)
    with request.app.state.writer() as session:
        user = identify(request, session)
        if user is None or user.kind != "session":
            return response
        body = await request.body()
        sent = request.headers.get(CSRF_HEADER) or parse_qs(
            body[:MAX_FORM_BYTES].decode("utf-8", "replace")).get("csrf", [""])[0]
        if not tokens.same(sent, user.csrf):
            return Response("missing or wrong CSRF token", status_code=403)
        session.get(ApiToken, user.token_id).revoked_at = utcnow()
        session.commit()
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response
