"""Dashboard sessions over HTTP: signing in with a one-time link or a token, the cookie's
attributes, CSRF protection of state-changing requests, signing out, open-redirect safety and
the rate limits on sign-in and token creation (429 with the error shape and Retry-After)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from service.auth import accounts, tokens
from service.deps import CSRF_COOKIE, SESSION_COOKIE
from service.models import User

from .conftest import assert_error

POINT = {"name": "p", "model": {"kind": "point"}, "optimizer": {"name": "sgd", "lr": 0.1},
         "training": {"steps": 5}}


def _code(app, name: str = "admin") -> str:
    with app.state.writer() as session:
        user = session.query(User).filter_by(name=name).one_or_none()
        if user is None:
            user = accounts.add_user(session, "cli", name, superuser=True)
        code = tokens.login_code(session, user)
        session.commit()
    return code


def _browser(app) -> TestClient:
    """A client with no credentials of its own, as a browser that has not signed in."""
    return TestClient(app, base_url="http://testserver")


def _sign_in(browser: TestClient, **form) -> object:
    return browser.post("/login", data=form, follow_redirects=False)


def test_a_login_link_opens_a_session_once(client):
    code = _code(client.app)
    browser = _browser(client.app)
    assert browser.get("/", follow_redirects=False).status_code == 303
    response = _sign_in(browser, code=code, next="/new")
    assert response.status_code == 303 and response.headers["location"] == "/new"
    cookies = response.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookies if c.startswith(f"{SESSION_COOKIE}="))
    assert "HttpOnly" in session_cookie and "SameSite=strict" in session_cookie
    csrf_cookie = next(c for c in cookies if c.startswith(f"{CSRF_COOKIE}="))
    assert "HttpOnly" not in csrf_cookie
    assert browser.get("/", follow_redirects=False).status_code == 200
    assert browser.get("/api/v1/me").json()["name"] == "admin"
    again = _browser(client.app)
    refused = _sign_in(again, code=code)
    assert refused.status_code == 401 and "unknown, used, revoked or expired" in refused.text
    assert again.get("/api/v1/me").status_code == 401


def test_state_changing_requests_of_a_session_need_the_csrf_token(client):
    browser = _browser(client.app)
    _sign_in(browser, code=_code(client.app))
    csrf = browser.cookies[CSRF_COOKIE]
    forged = browser.post("/api/v1/experiments", json=POINT)
    assert_error(forged, 403, "forbidden")
    wrong = browser.post("/api/v1/experiments", json=POINT, headers={"x-csrf-token": "x" * 43})
    assert_error(wrong, 403, "forbidden")
    assert client.get("/api/v1/experiments").json()["experiments"] == []  # nothing was made
    made = browser.post("/api/v1/experiments", json=POINT, headers={"x-csrf-token": csrf})
    assert made.status_code == 201, made.text
    assert browser.get("/api/v1/runs").status_code == 200  # reads need no CSRF token
    # a bearer token is not a browser's ambient credential: no CSRF token needed
    assert client.post("/api/v1/experiments", json=POINT).status_code == 201


def test_signing_out_ends_the_session_and_needs_the_csrf_token(client):
    browser = _browser(client.app)
    _sign_in(browser, code=_code(client.app))
    session_token = browser.cookies[SESSION_COOKIE]
    forged = browser.post("/logout", follow_redirects=False)
    assert forged.status_code == 403
    assert browser.get("/api/v1/me").status_code == 200
    out = browser.post("/logout", headers={"x-csrf-token": browser.cookies[CSRF_COOKIE]},
                       follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    stolen = _browser(client.app)
    stolen.cookies.set(SESSION_COOKIE, session_token)
    assert stolen.get("/api/v1/me").status_code == 401  # revoked, not just forgotten


def test_an_api_token_signs_in_with_at_most_its_own_scopes(client):
    made = client.post("/api/v1/tokens", json={"name": "ro", "scopes": ["read"]}).json()
    browser = _browser(client.app)
    assert _sign_in(browser, token=made["token"]).status_code == 303
    csrf = browser.cookies[CSRF_COOKIE]
    assert browser.get("/api/v1/me").json()["scopes"] == ["read"]
    refused = browser.post("/api/v1/experiments", json=POINT, headers={"x-csrf-token": csrf})
    assert_error(refused, 403, "forbidden")
    worker_only = client.post("/api/v1/tokens", json={"scopes": ["worker"]}).json()["token"]
    assert _sign_in(_browser(client.app), token=worker_only).status_code == 401


def test_sign_in_never_redirects_off_site(client):
    for target in ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"]:
        response = _sign_in(_browser(client.app), code=_code(client.app), next=target)
        assert response.headers["location"] == "/", target


def test_sign_in_attempts_are_rate_limited(make_client):
    app = make_client(auth_rate_per_minute=5).app
    browser = _browser(app)
    statuses = [_sign_in(browser, token="otk_wrong").status_code for _ in range(5)]
    assert statuses == [401] * 5
    limited = _sign_in(browser, code=_code(app))  # even a good code waits
    error = assert_error(limited, 429, "rate_limited")
    assert "sign-in" in error["message"]
    assert 0 < int(limited.headers["retry-after"]) <= 60


def test_token_creation_is_rate_limited(make_client):
    client = make_client(auth_rate_per_minute=3)
    for _ in range(3):
        assert client.post("/api/v1/tokens", json={"scopes": ["read"]}).status_code == 201
    limited = client.post("/api/v1/tokens", json={"scopes": ["read"]})
    assert_error(limited, 429, "rate_limited")
    assert len(client.get("/api/v1/tokens").json()) == 4  # the three, and the client's own


def test_the_login_form_body_is_capped(client):
    response = _browser(client.app).post("/login", content=b"token=" + b"a" * 10_000,
                                         headers={"content-type":
                                                  "application/x-www-form-urlencoded"})
    assert_error(response, 413, "too_large")


def test_every_response_forbids_framing_and_sniffing(client):
    for path in ["/login", "/api/v1/runs", "/healthz", "/static/common.js", "/nope"]:
        response = _browser(client.app).get(path)
        assert response.headers["x-frame-options"] == "DENY", path
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["referrer-policy"] == "same-origin", path
