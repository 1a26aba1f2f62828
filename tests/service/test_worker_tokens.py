"""Worker tokens: the ``worker`` scope reaches the worker protocol and nothing else; a worker
leases only runs of projects where its user is at least a member (within the token's own project
limit), and touches only runs leased with that same token. Revoked and expired tokens fail at
once, and the database keeps only a token's SHA-256."""

from __future__ import annotations

import hashlib
import itertools
import time
import uuid
from datetime import datetime, timezone

from sqlalchemy import select

from service.models import ApiToken, Metric, Run, RunAttempt

from .conftest import assert_error, superuser_headers
from .teams import (add_project, add_user, bearer, grant, mint, ok, point_experiment,
                             populate)

WORKER_IDS = itertools.count()
WORKER_ROUTES = ("heartbeat", "metrics", "finish", "release", "checkpoint-put", "checkpoint-get")


def setup(client) -> dict:
    """alpha (alice member, carol viewer), beta (bob member); worker and read/write tokens."""
    populate(client, {"alpha": {"alice": "member", "carol": "viewer"},
                      "beta": {"bob": "member"}})
    tokens = {
        "alice_w1": mint(client, "alice", ["worker"], name="w1"),
        "alice_w2": mint(client, "alice", ["worker"], name="w2"),
        "bob_w": mint(client, "bob", ["worker"], name="wb"),
        "carol_w": mint(client, "carol", ["worker"], name="wc"),
        "alice_rw": mint(client, "alice", ["read", "write", "admin"], name="rw"),
    }
    return {name: {**t, "h": bearer(t["token"])} for name, t in tokens.items()}


def submit(client, project: str, seeds: int = 2) -> list[str]:
    return ok(client.post("/api/v1/experiments", json=point_experiment(project, seeds=seeds)),
              201)["run_ids"]


def lease(client, headers, worker_id: str | None = None):
    """A lease call of a worker of its own (a worker that asks again is given the run it holds)."""
    return client.post("/api/v1/worker/lease", json={
        "worker_id": worker_id or f"w{next(WORKER_IDS)}", "wait": 0}, headers=headers)


def lease_all(client, headers) -> list[str]:
    leased = []
    for _ in range(50):
        response = lease(client, headers)
        if response.status_code == 204:
            return leased
        leased.append(ok(response)["run_id"])
    raise AssertionError("the queue never ran dry")


def worker_call(client, route: str, run_id: str, attempt: int, headers):
    base = f"/api/v1/worker/runs/{run_id}"
    if route == "heartbeat":
        return client.post(f"{base}/heartbeat", json={"attempt": attempt}, headers=headers)
    if route == "metrics":
        return client.post(f"{base}/metrics", headers=headers, json={
            "attempt": attempt, "metrics": [{"key": "train_loss", "step": 1, "value": 0.5}]})
    if route == "finish":
        return client.post(f"{base}/finish", headers=headers,
                           json={"attempt": attempt, "status": "succeeded", "summary": {}})
    if route == "release":
        return client.post(f"{base}/release", json={"attempt": attempt}, headers=headers)
    if route == "checkpoint-put":
        return client.put(f"{base}/checkpoint?attempt={attempt}&step=3", content=b"npz bytes",
                          headers={**headers, "content-type": "application/octet-stream"})
    if route == "checkpoint-get":
        return client.get(f"{base}/checkpoint?attempt={attempt}", headers=headers)
    raise ValueError(route)


def run_state(client, run_id: str) -> tuple:
    with client.app.state.reader() as session:
        run = session.get(Run, run_id)
        attempts = [(a.attempt, a.outcome) for a in session.scalars(
            select(RunAttempt).where(RunAttempt.run_id == run_id))]
        metrics = session.scalars(select(Metric.key).where(Metric.run_id == run_id)).all()
        return (run.status, run.attempt, run.lease_token_id, run.checkpoint_sha, run.summary,
                attempts, sorted(metrics))


# -- scopes -----------------------------------------------------------------------------------

def test_worker_scope_reaches_only_the_worker_routes(client):
    t = setup(client)
    [run_id, _] = submit(client, "alpha")
    experiment = ok(client.get("/api/v1/experiments"))["experiments"][0]["id"]
    for name in ("alice_w1", "bob_w"):
        h = t[name]["h"]
        for method, path, kwargs in (
                ("GET", "/api/v1/runs", {}),
                ("GET", f"/api/v1/runs/{run_id}", {}),
                ("POST", f"/api/v1/runs/{run_id}/cancel", {}),
                ("GET", f"/api/v1/runs/{run_id}/metrics", {}),
                ("POST", "/api/v1/runs", {"json": {"name": "x", "project": "alpha"}}),
                ("GET", "/api/v1/experiments", {}),
                ("GET", f"/api/v1/experiments/{experiment}", {}),
                ("POST", "/api/v1/experiments", {"json": point_experiment("alpha")}),
                ("DELETE", f"/api/v1/experiments/{experiment}", {}),
                ("POST", "/api/v1/metrics/query", {"json": {"run_ids": [run_id],
                                                            "keys": ["x"]}}),
                ("GET", "/api/v1/me", {}),
                ("GET", "/api/v1/projects", {}),
                ("GET", "/api/v1/catalog", {}),
                ("GET", "/api/v1/audit", {}),
                ("GET", "/api/v1/tokens", {}),
                ("POST", "/api/v1/tokens", {"json": {"scopes": ["read"]}})):
            response = client.request(method, path, headers=h, **kwargs)
            assert_error(response, 403, "forbidden")
    assert ok(client.get(f"/api/v1/runs/{run_id}"))["status"] == "queued"
    # a browser session cannot be opened with a worker token either
    response = client.post("/login", data={"token": t["alice_w1"]["token"]},
                           headers={"authorization": ""}, follow_redirects=False)
    assert response.status_code == 401 and "optrack_session" not in response.cookies

    # tokens without the worker scope cannot speak the worker protocol
    plain = t["alice_rw"]["h"]
    assert_error(lease(client, plain), 403, "forbidden")
    su_rw = superuser_headers(client.app, ("read", "write", "admin"))
    assert_error(lease(client, su_rw), 403, "forbidden")
    leased = ok(lease(client, t["alice_w1"]["h"]))
    for route in WORKER_ROUTES:
        for h in (plain, su_rw):
            assert_error(worker_call(client, route, leased["run_id"], leased["attempt"], h), 403,
                         "forbidden")
    assert run_state(client, leased["run_id"])[:3] == ("running", 1, t["alice_w1"]["id"])


def test_worker_token_does_not_open_dashboard_pages(client):
    """Worker tokens reach only /api/v1/worker/*: the dashboard pages (which show an
    experiment's and a run's name) are no exception."""
    t = setup(client)
    created = ok(client.post("/api/v1/experiments", json=point_experiment(
        "alpha", name="secret-experiment-name")), 201)
    for path in (f"/experiments/{created['id']}", f"/runs/{created['run_ids'][0]}", "/"):
        response = client.get(path, headers=t["alice_w1"]["h"], follow_redirects=False)
        assert response.status_code != 200, (path, response.status_code)
        assert "secret-experiment-name" not in response.text


# -- leasing ----------------------------------------------------------------------------------

def test_worker_leases_only_runs_of_projects_where_its_user_is_a_member(client):
    t = setup(client)
    alpha = submit(client, "alpha", seeds=3)
    beta = submit(client, "beta", seeds=3)
    # the viewer's worker finds nothing
    assert lease(client, t["carol_w"]["h"]).status_code == 204
    leased = lease_all(client, t["alice_w1"]["h"])
    assert sorted(leased) == sorted(alpha)
    assert [ok(client.get(f"/api/v1/runs/{r}"))["status"] for r in beta] == ["queued"] * 3
    assert lease(client, t["alice_w2"]["h"]).status_code == 204
    with client.app.state.reader() as session:
        for run_id in alpha:
            assert session.get(Run, run_id).lease_token_id == t["alice_w1"]["id"]
    # a superuser's worker token limited to beta leases beta's runs, and only those
    gamma = submit(client, "gamma", seeds=1)
    limited = bearer(mint(client, None, ["worker"], projects=["beta"])["token"])
    assert sorted(lease_all(client, limited)) == sorted(beta)
    assert ok(client.get(f"/api/v1/runs/{gamma[0]}"))["status"] == "queued"
    assert lease(client, t["bob_w"]["h"]).status_code == 204


def test_alice_worker_token_limited_to_one_project_leases_only_there(client):
    t = setup(client)
    grant(client, "beta", "alice", "member")  # alice may work on both projects ...
    alpha = submit(client, "alpha", seeds=2)
    beta = submit(client, "beta", seeds=2)
    only_beta = bearer(mint(client, "alice", ["worker"], projects=["beta"])["token"])
    assert sorted(lease_all(client, only_beta)) == sorted(beta)  # ... this token on beta only
    assert [ok(client.get(f"/api/v1/runs/{r}"))["status"] for r in alpha] == ["queued"] * 2
    assert sorted(lease_all(client, t["alice_w1"]["h"])) == sorted(alpha)  # her unlimited one


# -- a lease belongs to its token ---------------------------------------------------------------

def test_only_the_leasing_token_may_touch_the_run(client):
    t = setup(client)
    submit(client, "alpha", seeds=1)
    leased = ok(lease(client, t["alice_w1"]["h"]))
    run_id, attempt = leased["run_id"], leased["attempt"]
    before = run_state(client, run_id)
    for route in WORKER_ROUTES:
        # the same user's other worker token: the lease is not its (409 LeaseLost)
        assert_error(worker_call(client, route, run_id, attempt, t["alice_w2"]["h"]), 409,
                     "conflict")
        # bob's worker cannot see alpha at all: 404
        assert_error(worker_call(client, route, run_id, attempt, t["bob_w"]["h"]), 404,
                     "not_found")
        # carol's user views alpha: she sees the run, but the lease is not her token's
        assert_error(worker_call(client, route, run_id, attempt, t["carol_w"]["h"]), 409,
                     "conflict")
    assert run_state(client, run_id) == before

    # the leasing token may do all of it
    h = t["alice_w1"]["h"]
    assert ok(worker_call(client, "heartbeat", run_id, attempt, h))["cancelled"] is False
    assert ok(worker_call(client, "metrics", run_id, attempt, h))["inserted"] == 1
    ok(worker_call(client, "checkpoint-put", run_id, attempt, h))
    got = worker_call(client, "checkpoint-get", run_id, attempt, h)
    assert got.status_code == 200 and got.content == b"npz bytes"
    ok(worker_call(client, "release", run_id, attempt, h))
    # released: the second token may lease it now, and then the first one is the stranger
    again = ok(lease(client, t["alice_w2"]["h"]))
    assert (again["run_id"], again["attempt"]) == (run_id, attempt + 1)
    for route in ("heartbeat", "metrics", "finish", "checkpoint-get"):
        assert_error(worker_call(client, route, run_id, again["attempt"], h), 409, "conflict")
    assert ok(worker_call(client, "finish", run_id, again["attempt"],
                          t["alice_w2"]["h"]))["status"] == "succeeded"
    # finished: nobody holds it
    for name in ("alice_w1", "alice_w2"):
        assert_error(worker_call(client, "heartbeat", run_id, again["attempt"], t[name]["h"]),
                     409, "conflict")


def test_a_run_in_an_invisible_project_answers_the_worker_like_a_missing_run(client):
    """Bob's worker gets 404 for alpha's run; a run id that never existed must answer exactly
    the same, or the answers tell which ids exist in projects bob cannot see."""
    t = setup(client)
    submit(client, "alpha", seeds=1)
    leased = ok(lease(client, t["alice_w1"]["h"]))
    run_id, attempt = leased["run_id"], leased["attempt"]
    for route in WORKER_ROUTES:
        fake = uuid.uuid4().hex
        seen = worker_call(client, route, run_id, attempt, t["bob_w"]["h"])
        missing = worker_call(client, route, fake, attempt, t["bob_w"]["h"])
        assert (route, seen.status_code, seen.text.replace(run_id, "<ID>")) == (
            route, missing.status_code, missing.text.replace(fake, "<ID>"))


# -- revocation and expiry ------------------------------------------------------------------------

def test_revoked_worker_token_is_refused_at_once(client):
    t = setup(client)
    submit(client, "alpha", seeds=2)
    w1 = t["alice_w1"]
    leased = ok(lease(client, w1["h"]))
    ok(worker_call(client, "heartbeat", leased["run_id"], leased["attempt"], w1["h"]))
    assert client.delete(f"/api/v1/tokens/{w1['id']}").status_code == 204
    for route in WORKER_ROUTES:
        assert_error(worker_call(client, route, leased["run_id"], leased["attempt"], w1["h"]),
                     401, "unauthenticated")
    assert_error(lease(client, w1["h"]), 401, "unauthenticated")
    listed = {x["id"]: x for x in ok(client.get("/api/v1/tokens?all=true"))}
    assert listed[w1["id"]]["revoked_at"] is not None
    # the other token of the same user still works, the revoked one's run is untouched
    assert ok(lease(client, t["alice_w2"]["h"]))["run_id"] != leased["run_id"]
    assert run_state(client, leased["run_id"])[:2] == ("running", 1)
    # revoking the user's own read/write token by prefix works the same way
    rw = t["alice_rw"]
    ok(client.get("/api/v1/me", headers=rw["h"]))
    assert client.delete(f"/api/v1/tokens/{rw['prefix']}", headers=rw["h"]).status_code == 204
    assert_error(client.get("/api/v1/me", headers=rw["h"]), 401, "unauthenticated")


def test_expired_token_is_refused(client):
    add_user(client, "alice")
    add_project(client, "alpha")
    grant(client, "alpha", "alice", "member")
    submit(client, "alpha", seeds=1)
    created = mint(client, "alice", ["read", "worker"], expires_in_days=0.00001)  # 0.86 s
    h = bearer(created["token"])
    expires = datetime.fromisoformat(created["expires_at"].replace("Z", "+00:00"))
    issued = datetime.fromisoformat(created["created_at"].replace("Z", "+00:00"))
    assert abs((expires - issued).total_seconds() - 0.864) < 0.01
    first = client.get("/api/v1/me", headers=h)
    if datetime.now(timezone.utc) < expires:  # (a slow machine may already be past it)
        assert first.status_code == 200, first.text
    time.sleep(max(0.0, (expires - datetime.now(timezone.utc)).total_seconds()) + 0.3)
    assert_error(client.get("/api/v1/me", headers=h), 401, "unauthenticated")
    assert_error(lease(client, h), 401, "unauthenticated")
    assert ok(client.get("/api/v1/runs"))["runs"][0]["status"] == "queued"


# -- storage ----------------------------------------------------------------------------------

def test_tokens_are_stored_only_as_their_sha256(client):
    t = setup(client)
    secrets = [x["token"] for x in t.values()]
    secrets.append(client.headers["authorization"].split()[1])
    login = client.post("/login", data={"token": t["alice_rw"]["token"]},
                        headers={"authorization": ""}, follow_redirects=False)
    assert login.status_code == 303
    secrets.append(login.cookies["optrack_session"])
    client.cookies.clear()
    with client.app.state.reader() as session:
        rows = session.scalars(select(ApiToken)).all()
        by_hash = {r.hash: r for r in rows}
        for secret in secrets:
            assert secret.startswith("otk_") and len(secret) >= 40
            digest = hashlib.sha256(secret.encode()).hexdigest()
            assert digest in by_hash, secret[:12]
            assert by_hash[digest].prefix == secret[:12]
            hidden = secret[12:]
            pieces = {hidden[i:i + 10] for i in range(len(hidden) - 9)}
            for row in rows:
                for column in ApiToken.__table__.columns:
                    value = str(getattr(row, column.key))
                    assert secret not in value, (column.key, row.id)
                    assert not any(p in value for p in pieces), (column.key, row.id)
    # neither the hash nor the prefix is a credential
    for x in t.values():
        digest = hashlib.sha256(x["token"].encode()).hexdigest()
        for fake in (digest, f"otk_{digest}", x["prefix"], x["token"][:-1], x["token"] + "x",
                     x["token"].upper()):
            assert_error(client.get("/api/v1/me", headers=bearer(fake)), 401, "unauthenticated")
            assert_error(lease(client, bearer(fake)), 401, "unauthenticated")
    # listings never show a secret
    listed = client.get("/api/v1/tokens?all=true").text
    assert not any(s in listed for s in secrets)
    assert all(x["prefix"] in listed for x in t.values())
