"""Every route of the app, listed from the app itself (a route added later is covered without
editing this file), refuses requests without valid credentials — none, a revoked token, an
expired token, garbage — and with a valid token of the wrong scope. Only the health checks, the
sign-in page and static assets are public. (The MLflow-compatible API answers the same
refusals in MLflow's error shape.)"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Mount

from service.auth import accounts, tokens
from service.models import User

from .conftest import assert_error, assert_mlflow_error

PUBLIC = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/login"), ("POST", "/login"),
          ("POST", "/logout"), ("GET", "/static/vendor/plotly.min.js")}
PUBLIC_MOUNTS = {"/static"}
ADMIN_ROUTES = {("DELETE", "/api/v1/experiments/{experiment_id}"),
                ("POST", "/api/v1/experiments/{experiment_id}/restore"),
                ("POST", "/api/v1/experiments/{experiment_id}/purge"),
                ("DELETE", "/api/v1/datasets/{project}/{ref}")}
# MLflow's searches are POSTs that only read
MLFLOW_READS = {("POST", "/api/2.0/mlflow/experiments/search"),
                ("POST", "/api/2.0/mlflow/runs/search")}
ABSENT_ID = "0" * 32
API = ("/api/", "/openapi.json", "/metrics")  # answer with the error shape (pages redirect)


def _walk(routes):
    """Every route, through included routers (FastAPI ≥ 0.165 keeps them as a wrapper around
    the router; earlier versions copied their routes in; our routers add no include prefix)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _walk(inner.routes)
        else:
            yield route


def routes(app) -> list[tuple[str, str]]:
    found = []
    for route in _walk(app.routes):
        if isinstance(route, Mount):
            assert route.path in PUBLIC_MOUNTS, f"unexpected mount {route.path}"
        elif isinstance(route, APIRoute):
            found += [(m, route.path) for m in sorted(route.methods - {"HEAD"})]
    return found


def required_scope(method: str, path: str) -> str | None:
    """The rule the README states: worker routes need ``worker``; administration needs
    ``admin``; Prometheus' ``/metrics`` needs ``metrics``; other reads ``read``; other writes
    ``write``. None: any API token (pages)."""
    if path == "/metrics":
        return "metrics"
    if not path.startswith(API) or (method, path) in MLFLOW_READS:
        return "read"
    if path.startswith("/api/v1/worker/"):
        return "worker"
    if (path.startswith(("/api/v1/users", "/api/v1/tokens", "/api/v1/audit"))
            or (path.startswith("/api/v1/projects/") and method != "GET")
            or (method, path) in ADMIN_ROUTES):
        return "admin"
    return "read" if method == "GET" else "write"


def call(client, method: str, path: str, headers: dict[str, str]):
    url = re.sub(r"\{[^}]+\}", ABSENT_ID, path)
    kwargs = {"content": b"\x00" * 16, "params": {"attempt": 1, "step": 1}} \
        if path.endswith("/checkpoint") and method == "PUT" else {"json": {}}
    if method == "GET":
        kwargs = {"params": {"attempt": 1}} if path.endswith("/checkpoint") else {}
    return client.request(method, url, headers=headers, follow_redirects=False, **kwargs)


def refused(response, path: str, status: int) -> None:
    if not path.startswith(API) and status == 401:
        # a page sends the browser to sign in
        assert response.status_code == 303, (path, response.status_code, response.text[:300])
        assert response.headers["location"].startswith("/login?next="), path
        return
    api_error(response, path, status)


def api_error(response, path: str, status: int) -> None:
    if path.startswith("/api/2.0/mlflow"):
        assert_mlflow_error(response, status)
    else:
        assert_error(response, status)


@pytest.fixture(scope="module")
def bare(shared_client):
    """A client of the same app that sends no credentials of its own."""
    return TestClient(shared_client.app)


@pytest.fixture(scope="module")
def credentials(shared_client):
    """Tokens of one superuser: each single scope, all scopes, revoked, expired."""
    app = shared_client.app
    with app.state.writer() as session:
        user = accounts.add_user(session, "cli", "route-tester", superuser=True)
        made = {}
        for name, scopes in {"read": ["read"], "write": ["read", "write"],
                             "worker": ["worker"], "admin": ["read", "write", "admin"],
                             "metrics": ["metrics"],
                             "all": ["read", "write", "worker", "admin", "metrics"]}.items():
            made[name] = accounts.create_token(session, "cli", user, name, scopes)[1]
        revoked, made["revoked"] = accounts.create_token(session, "cli", user, "gone",
                                                      ["read", "write", "worker", "admin"])
        accounts.revoke_token(session, "cli", revoked)
        _, made["expired"] = tokens.issue(session, session.get(User, user.id),
                                          ["read", "write", "worker", "admin"],
                                          ttl=timedelta(seconds=-1))
        session.commit()
    return {name: {"authorization": f"Bearer {secret}"} for name, secret in made.items()}


def test_the_route_list_is_complete(shared_client):
    found = routes(shared_client.app)
    assert len(found) >= 40
    for expected in [("GET", "/api/v1/runs"), ("POST", "/api/v1/worker/lease"),
                     ("GET", "/experiments/{experiment_id}"), ("GET", "/openapi.json"),
                     ("POST", "/api/v1/tokens"), ("GET", "/api/v1/audit")]:
        assert expected in found


def test_every_route_but_the_public_ones_needs_valid_credentials(shared_client, bare,
                                                                credentials):
    protected = [r for r in routes(shared_client.app) if r not in PUBLIC]
    bad = {"none": {}, "revoked": credentials["revoked"], "expired": credentials["expired"],
           "garbage": {"authorization": "Bearer otk_" + "A" * 43},
           "the hash": {"authorization": "Bearer " + "0" * 64},
           "basic": {"authorization": "Basic YWRtaW46YWRtaW4="}}
    for method, path in protected:
        for label, headers in bad.items():
            response = call(bare, method, path, headers)
            if label == "none" or path.startswith(API):
                refused(response, path, 401)
            else:  # a bad bearer on a page: the sign-in page too
                assert response.status_code == 303, (label, method, path, response.text[:200])


def test_every_protected_route_refuses_a_token_without_its_scope(shared_client, bare,
                                                                 credentials):
    lacking = {"read": ["worker"], "write": ["read", "worker"],
               "worker": ["admin"], "admin": ["write", "worker"],
               "metrics": ["read", "admin"]}
    for method, path in routes(shared_client.app):
        if (method, path) in PUBLIC:
            continue
        need = required_scope(method, path)
        for holder in lacking[need]:
            response = call(bare, method, path, credentials[holder])
            if path.startswith(API):
                api_error(response, path, 403)
            else:
                assert response.status_code == 303, (holder, path)


def test_with_the_right_scope_a_route_gets_past_authentication(shared_client, bare,
                                                               credentials):
    """The same calls with a token holding every scope reach the handler: whatever it answers
    (404 for the absent id, 422 for the empty body, 200 …), it is not 401 or 403. It is no
    server error either; 501 is MLflow's "not implemented", the answer to its artifact calls."""
    for method, path in routes(shared_client.app):
        if (method, path) in PUBLIC:
            continue
        response = call(bare, method, path, credentials["all"])
        assert response.status_code not in (401, 403), (method, path, response.text[:300])
        assert response.status_code < 500 or (response.status_code == 501
                                               and "artifacts" in path), (method, path)


def test_public_routes_answer_without_credentials(bare):
    for path in ["/healthz", "/readyz", "/login", "/static/vendor/plotly.min.js",
                 "/static/common.js"]:
        response = bare.get(path)
        assert response.status_code == 200, path


def test_a_401_says_how_to_authenticate(bare):
    response = bare.get("/api/v1/runs")
    assert_error(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"] == "Bearer"
