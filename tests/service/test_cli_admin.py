"""``optrack users|projects|members|tokens|login-link``: the real command, run as a process on
the test's database (SQLite and PostgreSQL), checked against an app over the same database.
Commands that do not depend on each other run side by side, to keep the module quick."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from .conftest import assert_error
from .teams import bearer, mint, ok

REPO = Path(__file__).resolve().parents[2]
LINK = re.compile(r"^(http://[^\s?]+)/login\?code=(otk_[A-Za-z0-9_\-]+)$")


def run_cli(env: dict[str, str], *commands: list[str]) -> list[subprocess.CompletedProcess]:
    """Run ``python -m service.cli <command>`` for each command, side by side."""
    started = [(c, subprocess.Popen([sys.executable, "-m", "service.cli", *c], cwd=REPO, env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
               for c in commands]
    done = []
    for command, process in started:
        out, err = process.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(command, process.returncode, out, err))
    return done


@pytest.fixture
def cli_env(db_url, tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTRACK_")}
    env.update(OPTRACK_DATABASE_URL=db_url, OPTRACK_DATA_DIR=str(tmp_path), COLUMNS="250",
               NO_COLOR="1", OPTRACK_SERVER="http://127.0.0.1:8123",
               OPTRACK_CONFIG_DIR=str(tmp_path / "config"))
    return env


@pytest.fixture
def cli(cli_env, client):
    """``cli(["users", "add", "x"], [...], ...)`` runs the commands concurrently and returns
    their CompletedProcess objects. ``client`` (an app over the same database) exists first,
    so the database is migrated before any command starts."""
    return lambda *commands: run_cli(cli_env, *commands)


def succeeded(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, (result.args, result.returncode, result.stdout,
                                    result.stderr[-3000:])
    return result.stdout


def failed(result: subprocess.CompletedProcess, message: str) -> None:
    """Exit 1 with ``error: <message>`` on stderr, and no traceback."""
    assert result.returncode == 1, (result.args, result.returncode, result.stdout, result.stderr)
    assert f"error: {message}" in result.stderr, (result.args, result.stderr)
    assert "Traceback" not in result.stderr and "Error:" not in result.stderr.replace(
        "error:", ""), result.stderr


def members(client, project: str) -> dict[str, str]:
    return {m["user"]: m["role"] for m in ok(client.get(f"/api/v1/projects/{project}/members"))}


def test_users_projects_and_members(cli, client):
    # carol and gamma exist already (made over the API), carol a member of gamma
    ok(client.post("/api/v1/users", json={"name": "carol"}), 201)
    ok(client.post("/api/v1/projects", json={"name": "gamma"}), 201)
    ok(client.put("/api/v1/projects/gamma/members/carol", json={"role": "member"}))
    added, dup, no_owner, no_project = cli(
        ["users", "add", "alice"], ["users", "add", "carol"],
        ["projects", "add", "beta", "--owner", "nosuch"], ["members", "add", "nosuch", "carol"])
    assert "user alice added" in succeeded(added)
    failed(dup, "user 'carol' already exists")
    failed(no_owner, "user 'nosuch' not found")
    failed(no_project, "project 'nosuch' not found")
    assert [p["name"] for p in ok(client.get("/api/v1/projects"))] == ["gamma"]  # no beta

    owned, viewer, removed, listed = cli(
        ["projects", "add", "alpha", "--owner", "alice"],
        ["members", "add", "gamma", "alice", "--role", "viewer"],
        ["members", "remove", "gamma", "carol"], ["users", "list"])
    assert "project alpha added" in succeeded(owned)
    assert "alice is viewer of gamma" in succeeded(viewer)
    assert "carol removed from gamma" in succeeded(removed)
    table = succeeded(listed)
    su = ok(client.get("/api/v1/me"))["name"]
    assert re.search(rf"{su}\W+yes", table) and re.search(r"alice\W+\d{4}-", table), table
    assert {u["name"]: u["superuser"] for u in ok(client.get("/api/v1/users"))} == {
        "alice": False, "carol": False, su: True}
    assert members(client, "alpha") == {"alice": "admin"}
    assert members(client, "gamma") == {"alice": "viewer", su: "admin"}

    # every change is in the audit log, by "cli"
    entries = ok(client.get("/api/v1/audit", params={"limit": 1000}))["entries"]
    by_cli = {(e["action"], e["project"], e["target"]) for e in entries if e["actor"] == "cli"}
    assert {("user.create", None, "alice"), ("project.create", "alpha", "alpha"),
            ("member.grant", "alpha", "alice"), ("member.grant", "gamma", "alice"),
            ("member.revoke", "gamma", "carol")} <= by_cli


def test_tokens_create_list_and_revoke(cli, client):
    ok(client.post("/api/v1/users", json={"name": "alice"}), 201)
    for project in ("alpha", "beta"):
        ok(client.post("/api/v1/projects", json={"name": project}), 201)
        ok(client.put(f"/api/v1/projects/{project}/members/alice", json={"role": "member"}))
    old = mint(client, "alice", ["read"], name="old")
    kept = mint(client, "alice", ["read", "write"], name="kept")
    su_token = client.headers["authorization"].split()[1]
    created, listed, revoked = cli(
        ["tokens", "create", "alice", "--scope", "read", "--scope", "worker", "--project",
         "alpha", "--expires-days", "1", "--name", "laptop"],
        ["tokens", "list"], ["tokens", "revoke", old["id"]])

    # list: ids, prefixes and owners, never a secret
    out = succeeded(listed)
    for token in (old, kept):
        assert token["id"] in out and token["prefix"] in out
    for secret in (old["token"], kept["token"], su_token):
        assert secret not in out and secret[12:20] not in out
    # revoke: the token is refused at once, the others work
    assert f"token {old['id']} revoked" in succeeded(revoked)
    assert_error(client.get("/api/v1/me", headers=bearer(old["token"])), 401, "unauthenticated")
    ok(client.get("/api/v1/me", headers=bearer(kept["token"])))
    entries = ok(client.get("/api/v1/audit", params={"action": "token.revoke"}))["entries"]
    assert [(e["actor"], e["target"]) for e in entries] == [("cli", old["prefix"])]

    # create: the secret alone on stdout, and it works against the app
    secret = succeeded(created).strip()
    assert re.fullmatch(r"otk_[A-Za-z0-9_\-]{43}", secret), created.stdout
    assert secret not in created.stderr
    me = ok(client.get("/api/v1/me", headers=bearer(secret)))
    assert (me["name"], me["scopes"], me["projects"]) == ("alice", ["read", "worker"],
                                                          {"alpha": "member"})
    assert client.post("/api/v1/worker/lease", json={"worker_id": "w", "wait": 0},
                       headers=bearer(secret)).status_code == 204
    assert_error(client.post("/api/v1/runs", json={"name": "r", "project": "alpha"},
                             headers=bearer(secret)), 403)
    tokens = {t["prefix"]: t for t in ok(client.get("/api/v1/tokens?all=true"))}
    made = tokens[secret[:12]]
    assert (made["name"], made["user"], made["projects"]) == ("laptop", "alice", ["alpha"])
    assert made["expires_at"] is not None


def test_login_link_opens_one_session_once(cli, client):
    ok(client.post("/api/v1/users", json={"name": "alice"}), 201)
    ok(client.post("/api/v1/projects", json={"name": "alpha"}), 201)
    ok(client.put("/api/v1/projects/alpha/members/alice", json={"role": "member"}))
    [link] = cli(["login-link", "alice"])
    match = LINK.match(succeeded(link).strip())
    assert match, link.stdout
    assert match[1] == "http://127.0.0.1:8123"
    code = match[2]
    assert code not in client.get("/api/v1/audit", params={"limit": 1000}).text

    client.headers.pop("authorization")  # a browser: no bearer token
    client.cookies.clear()
    opened = client.post("/login", content=f"code={code}&next=/compare",
                         headers={"content-type": "application/x-www-form-urlencoded"},
                         follow_redirects=False)
    assert opened.status_code == 303, opened.text
    assert opened.headers["location"] == "/compare"
    session_cookie = opened.cookies.get("optrack_session")
    assert session_cookie and session_cookie != code
    cookie_headers = opened.headers.get_list("set-cookie")
    assert any(h.startswith("optrack_session=") and "httponly" in h.lower()
               for h in cookie_headers), cookie_headers
    client.cookies.clear()
    me = ok(client.get("/api/v1/me", headers={"cookie": f"optrack_session={session_cookie}"}))
    assert me["name"] == "alice" and me["projects"] == {"alpha": "member"}

    reused = client.post("/login", content=f"code={code}",
                         headers={"content-type": "application/x-www-form-urlencoded"},
                         follow_redirects=False)
    assert reused.status_code == 401
    assert "optrack_session" not in reused.cookies
    # the code is no API credential either
    assert_error(client.get("/api/v1/me", headers=bearer(code)), 401, "unauthenticated")


def test_first_local_start_after_users_add_still_has_a_superuser(cli_env, db_url, tmp_path,
                                                                 monkeypatch):
    """``optrack users add alice`` on a new database, then ``optrack up``: the first start must
    still end with a superuser and working local credentials (ensure_admin looks for *any* user
    and then takes the first superuser — here there is none)."""
    from sqlalchemy import select

    from service.auth import tokens
    from service.db import make_engine
    from service.cli.local import local_credentials
    from service.models import User

    [added] = run_cli(cli_env, ["users", "add", "alice"])  # migrates the new database too
    succeeded(added)
    monkeypatch.setenv("OPTRACK_CONFIG_DIR", str(tmp_path / "config"))
    engine = make_engine(db_url)
    try:
        creds = local_credentials(engine, "http://127.0.0.1:8123")
        with Session(engine) as session:
            found = tokens.lookup(session, creds.worker_token, "api")
            assert found is not None and found[1].superuser
            assert session.scalars(select(User.name).where(User.superuser.is_(True))).all()
    finally:
        engine.dispose()
