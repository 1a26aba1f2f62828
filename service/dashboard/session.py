"""Signing in to the dashboard: a one-time login link (``/login?code=…``, printed by ``optrack
up`` and ``optrack login-link``) or an API token pasted into the login page opens a browser
session — an HttpOnly, SameSite=Strict cookie holding a session token whose hash the database
keeps, plus a CSRF token every state-changing request must echo in ``X-CSRF-Token``."""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ..auth import sessions, tokens
from ..deps import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE, identify
from .templating import templates

router = APIRouter(include_in_schema=False)
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
        opened = sessions.open_session(session, form.get("code", "").strip(),
                                       form.get("token", "").strip(),
                                       request.app.state.settings.session_hours)
        if opened is None:
            return login_page(request, "That link or token is unknown, used, revoked or expired.",
                              401, next_path=next_path)
        secret, csrf = opened
        session.commit()
    response = RedirectResponse(next_path, status_code=303)
    _set_cookies(request, response, secret, csrf, request.app.state.settings.session_hours)
    return response


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
        user = identify(request, session.connection())
        if user is None or user.kind != "session":
            return response
        body = await request.body()
        sent = request.headers.get(CSRF_HEADER) or parse_qs(
            body[:MAX_FORM_BYTES].decode("utf-8", "replace")).get("csrf", [""])[0]
        if not tokens.same(sent, user.csrf):
            return Response("missing or wrong CSRF token", status_code=403)
        sessions.end_session(session, user.token_id)
        session.commit()
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response
