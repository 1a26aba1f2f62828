"""Project isolation: another project's objects are invisible — every route answers for them
exactly as for ids that never existed (404, or nothing in a listing) — and a viewer reads but
never writes. Two projects, alpha and beta; alice is a member of alpha, bob of beta, carol a
viewer of alpha. Each test builds that world on a fresh database (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select

from service.models import Experiment, Metric, Run

from .conftest import assert_error
from .teams import bearer, make_world, mint, ok, point_experiment, same_as_missing

def snapshot(client) -> dict[str, Any]:
    """Every run's mutable state and the metric count, to prove a refused request changed
    nothing."""
    with client.app.state.reader() as session:
        runs = {r.id: (r.status, r.name, r.notes, sorted(t.tag for t in r.tags), r.deleted_at,
                       r.finished_at) for r in session.scalars(select(Run))}
        experiments = {e.id: (e.name, e.deleted_at) for e in session.scalars(select(Experiment))}
        metrics = session.scalar(select(func.count()).select_from(Metric))
    return {"runs": runs, "experiments": experiments, "metrics": metrics}


# -- experiments ------------------------------------------------------------------------------

def test_another_projects_experiment_answers_like_a_missing_one(client):
    w = make_world(client)
    before = snapshot(client)
    h = w.alice_h
    same_as_missing(lambda i: client.get(f"/api/v1/experiments/{i}", headers=h), w.beta_exp)
    for fmt in ("csv", "json"):
        same_as_missing(lambda i: client.get(f"/api/v1/experiments/{i}/export?format={fmt}",
                                             headers=h), w.beta_exp)
    same_as_missing(lambda i: client.delete(f"/api/v1/experiments/{i}", headers=h), w.beta_exp)
    same_as_missing(lambda i: client.post(f"/api/v1/experiments/{i}/restore", headers=h),
                    w.beta_exp)
    same_as_missing(lambda i: client.post(f"/api/v1/experiments/{i}/purge", headers=h),
                    w.beta_exp)
    # submitting into beta: as into a project that does not exist
    same_as_missing(lambda name: client.post("/api/v1/experiments", headers=h,
                                             json=point_experiment(name)), "beta")
    assert snapshot(client) == before

    # listings: alice sees alpha's experiment only, whatever she asks for
    listed = ok(client.get("/api/v1/experiments", headers=h))["experiments"]
    assert [e["id"] for e in listed] == [w.alpha_exp]
    for query in ("project=beta", "project=nosuch", "q=beta", "tag=ch6", "deleted=true",
                  "deleted=true&project=beta"):
        assert ok(client.get(f"/api/v1/experiments?{query}", headers=h))["experiments"] == [], query

    # a deleted beta experiment stays invisible to alice: get, restore, purge, deleted listing
    ok(client.delete(f"/api/v1/experiments/{w.beta_exp}"))
    same_as_missing(lambda i: client.get(f"/api/v1/experiments/{i}", headers=h), w.beta_exp)
    same_as_missing(lambda i: client.post(f"/api/v1/experiments/{i}/restore", headers=h),
                    w.beta_exp)
    same_as_missing(lambda i: client.post(f"/api/v1/experiments/{i}/purge", headers=h),
                    w.beta_exp)
    assert ok(client.get("/api/v1/experiments?deleted=true", headers=h))["experiments"] == []
    with client.app.state.reader() as session:
        assert session.get(Experiment, w.beta_exp).deleted_at is not None  # still there
    # bob (whose one experiment is deleted) sees nothing of alpha's
    listed = ok(client.get("/api/v1/experiments", headers=w.bob_h))["experiments"]
    assert listed == []
    same_as_missing(lambda i: client.get(f"/api/v1/experiments/{i}", headers=w.bob_h),
                    w.alpha_exp)


# -- runs and metrics -------------------------------------------------------------------------

def test_another_projects_runs_answer_like_missing_ones(client):
    w = make_world(client)
    before = snapshot(client)
    h = w.alice_h
    for run in (w.beta_runs[0], w.beta_ext):
        same_as_missing(lambda i: client.get(f"/api/v1/runs/{i}", headers=h), run)
        same_as_missing(lambda i: client.get(f"/api/v1/runs/{i}/attempts", headers=h), run)
        same_as_missing(lambda i: client.patch(f"/api/v1/runs/{i}", headers=h,
                                               json={"name": "mine", "tags": ["x"]}), run)
        same_as_missing(lambda i: client.post(f"/api/v1/runs/{i}/cancel", headers=h), run)
        same_as_missing(lambda i: client.post(f"/api/v1/runs/{i}/finish", headers=h,
                                              json={"status": "succeeded"}), run)
        same_as_missing(lambda i: client.post(f"/api/v1/runs/{i}/metrics", headers=h, json={
            "metrics": [{"key": "loss", "step": 99, "value": 0.5}]}), run)
        same_as_missing(lambda i: client.get(f"/api/v1/runs/{i}/metrics", headers=h), run)
        same_as_missing(lambda i: client.get(f"/api/v1/runs/{i}/metrics?keys=loss", headers=h),
                        run)
        for fmt in ("csv", "json"):
            same_as_missing(lambda i: client.get(f"/api/v1/runs/{i}/metrics/export?format={fmt}",
                                                 headers=h), run)
    # an external run in beta: as in a project that does not exist
    same_as_missing(lambda name: client.post("/api/v1/runs", headers=h,
                                             json={"name": "sneaky", "project": name}), "beta")
    assert snapshot(client) == before
    # bob still sees his runs as they were
    got = ok(client.get(f"/api/v1/runs/{w.beta_ext}", headers=w.bob_h))
    assert (got["name"], got["status"], got["tags"]) == ("beta ext", "running", ["t"])
    for run in w.beta_runs:
        assert ok(client.get(f"/api/v1/runs/{run}", headers=w.bob_h))["status"] == "queued"


def test_metrics_query_refuses_foreign_runs_like_missing_ones(client):
    w = make_world(client)
    h = w.alice_h
    mine = ok(client.post("/api/v1/metrics/query", headers=h,
                          json={"run_ids": [w.alpha_ext], "keys": ["loss"]}))
    assert [s["run_id"] for s in mine["series"]] == [w.alpha_ext]
    assert mine["series"][0]["total_points"] == 5
    for ids in (lambda i: [i], lambda i: [w.alpha_ext, i], lambda i: [i, w.alpha_ext],
                lambda i: [w.alpha_ext, w.alpha_runs[0], i]):
        same_as_missing(lambda i: client.post("/api/v1/metrics/query", headers=h,
                                              json={"run_ids": ids(i), "keys": ["loss"]}),
                        w.beta_ext)
    # bob's run id never shows up in alice's series, whatever else she asks for
    response = client.post("/api/v1/metrics/query", headers=h,
                           json={"run_ids": [w.beta_ext, w.beta_runs[0]], "keys": ["loss", "x"]})
    assert_error(response, 404, "not_found")
    assert "0.5" not in response.text and "total_points" not in response.text


def test_run_search_never_reveals_another_projects_runs(client):
    w = make_world(client)
    h = w.alice_h
    alpha = {*w.alpha_runs, w.alpha_ext}
    beta = {*w.beta_runs, w.beta_ext}

    def search(**params) -> tuple[set[str], str | None]:
        page = ok(client.get("/api/v1/runs", params=params, headers=h))
        ids = {r["id"] for r in page["runs"]}
        assert all(r["project"] == "alpha" for r in page["runs"]), page
        return ids, page["next_page_token"]

    assert search()[0] == alpha
    for flt in (f"experiment = '{w.beta_exp}'", f"id = '{w.beta_ext}'",
                f"id in ('{w.beta_ext}', '{w.beta_runs[0]}')", "name = 'beta ext'",
                "tags contains 't' and name != 'alpha ext'", "metrics.loss < 10 and external = true"
                " and name = 'beta ext'", f"experiment = '{w.beta_exp}' or status = 'failed'",
                "not (experiment = null) and experiment != " f"'{w.alpha_exp}'"):
        assert search(filter=flt)[0] == set(), flt
    assert search(filter="metrics.loss < 10")[0] == {w.alpha_ext}
    assert search(filter="status in ('queued', 'running')")[0] == alpha
    assert search(experiment=w.beta_exp)[0] == set()
    assert search(experiment=w.alpha_exp)[0] == set(w.alpha_runs)
    # the query language has no project field: refused, revealing nothing
    response = client.get("/api/v1/runs", params={"filter": "project = 'beta'"}, headers=h)
    assert_error(response, 422, "invalid_input")
    assert w.beta_exp not in response.text and "bob" not in response.text
    # ?project=beta: as for a project that does not exist
    same_as_missing(lambda name: client.get("/api/v1/runs", params={"project": name}, headers=h),
                    "beta")
    assert search(project="alpha")[0] == alpha

    # ordering and paging: one run per page, every order, only alpha's runs, each once
    for order in (None, "metrics.loss desc", "metrics.loss asc", "name asc", "created desc",
                  "id asc", "status desc, name asc"):
        seen: list[str] = []
        params: dict[str, Any] = {"limit": 1}
        if order:
            params["order_by"] = order
        while True:
            ids, token = search(**params)
            seen += ids
            if token is None:
                break
            params["page_token"] = token
        assert sorted(seen) == sorted(alpha), order

    # bob's page tokens, replayed by alice, still show only alpha's runs
    page = ok(client.get("/api/v1/runs", params={"limit": 1, "order_by": "name asc"},
                         headers=w.bob_h))
    assert {r["id"] for r in page["runs"]} <= beta
    ids, _ = search(limit=10, order_by="name asc", page_token=page["next_page_token"])
    assert ids <= alpha


# -- projects, members, audit -----------------------------------------------------------------

def test_projects_members_and_audit_of_another_project_are_hidden(client):
    w = make_world(client, alice_role="admin")
    h = w.alice_h
    projects = ok(client.get("/api/v1/projects", headers=h))
    assert [(p["name"], p["role"]) for p in projects] == [("alpha", "admin")]
    assert [(p["name"], p["role"]) for p in ok(client.get("/api/v1/projects",
                                                          headers=w.carol_h))] == [
        ("alpha", "viewer")]
    assert ok(client.get("/api/v1/me", headers=h))["projects"] == {"alpha": "admin"}
    members = ok(client.get("/api/v1/projects/alpha/members", headers=h))
    assert {m["user"] for m in members} >= {"alice", "carol"} and "bob" not in str(members)
    same_as_missing(lambda n: client.get(f"/api/v1/projects/{n}/members", headers=h), "beta")
    same_as_missing(lambda n: client.put(f"/api/v1/projects/{n}/members/alice", headers=h,
                                         json={"role": "admin"}), "beta")
    same_as_missing(lambda n: client.delete(f"/api/v1/projects/{n}/members/bob", headers=h),
                    "beta")
    same_as_missing(lambda n: client.get("/api/v1/audit", params={"project": n}, headers=h),
                    "beta")
    same_as_missing(lambda n: client.post("/api/v1/tokens", headers=h, json={
        "scopes": ["read"], "projects": [n]}), "beta")
    # bob is still beta's member, alice none of beta's
    members = ok(client.get("/api/v1/projects/beta/members"))
    assert {(m["user"], m["role"]) for m in members} >= {("bob", "member")}
    assert "alice" not in {m["user"] for m in members}

    entries = ok(client.get("/api/v1/audit?limit=1000", headers=h))["entries"]
    assert entries and {e["project"] for e in entries} == {"alpha"}, entries
    assert not any(w.beta_exp in str(e) or w.beta_ext in str(e) for e in entries)
    alpha_actions = {e["action"] for e in entries}
    assert {"experiment.create", "member.grant"} <= alpha_actions
    # bob administers nothing: he sees no entry at all
    assert ok(client.get("/api/v1/audit", headers=w.bob_h))["entries"] == []

    # tokens are their user's: alice lists only hers and cannot revoke bob's
    bob_token = w.tokens["bob"]
    assert [t["user"] for t in ok(client.get("/api/v1/tokens", headers=h))] == ["alice"]
    assert_error(client.get("/api/v1/tokens?all=true", headers=h), 403, "forbidden")
    same_as_missing(lambda i: client.delete(f"/api/v1/tokens/{i}", headers=h), bob_token["id"])
    fake_prefix = "otk_" + uuid.uuid4().hex[:8]
    seen = client.delete(f"/api/v1/tokens/{bob_token['prefix']}", headers=h)
    missing = client.delete(f"/api/v1/tokens/{fake_prefix}", headers=h)
    assert_error(seen, 404, "not_found")
    assert seen.text.replace(bob_token["prefix"], "<P>") == missing.text.replace(fake_prefix,
                                                                                   "<P>")
    ok(client.get("/api/v1/me", headers=w.bob_h))


def test_viewer_reads_but_every_write_is_forbidden_and_changes_nothing(client):
    w = make_world(client)
    h = w.carol_h
    # reads
    assert ok(client.get(f"/api/v1/experiments/{w.alpha_exp}", headers=h))["id"] == w.alpha_exp
    assert {r["id"] for r in ok(client.get("/api/v1/runs", headers=h))["runs"]} == {
        *w.alpha_runs, w.alpha_ext}
    history = ok(client.get(f"/api/v1/runs/{w.alpha_ext}/metrics", headers=h))
    assert history["series"][0]["total_points"] == 5
    assert ok(client.get(f"/api/v1/experiments/{w.alpha_exp}/export?format=json",
                         headers=h))
    before = snapshot(client)
    writes = [
        ("post", "/api/v1/experiments", {"json": point_experiment("alpha")}),
        ("post", "/api/v1/runs", {"json": {"name": "x", "project": "alpha"}}),
        ("post", f"/api/v1/runs/{w.alpha_runs[0]}/cancel", {}),
        ("post", f"/api/v1/runs/{w.alpha_ext}/cancel", {}),
        ("patch", f"/api/v1/runs/{w.alpha_runs[0]}", {"json": {"name": "renamed",
                                                              "tags": ["x"], "notes": "x"}}),
        ("post", f"/api/v1/runs/{w.alpha_ext}/metrics",
         {"json": {"metrics": [{"key": "loss", "step": 50, "value": 0.1}]}}),
        ("post", f"/api/v1/runs/{w.alpha_ext}/finish", {"json": {"status": "succeeded"}}),
        ("delete", f"/api/v1/experiments/{w.alpha_exp}", {}),
        ("put", "/api/v1/projects/alpha/members/carol", {"json": {"role": "admin"}}),
    ]
    for method, path, kwargs in writes:
        response = client.request(method.upper(), path, headers=h, **kwargs)
        assert_error(response, 403, "forbidden")
    assert snapshot(client) == before
    assert ok(client.get("/api/v1/me", headers=h))["projects"] == {"alpha": "viewer"}
    # and the member alice may do the same writes (the 403s were about the role)
    ok(client.post(f"/api/v1/runs/{w.alpha_runs[0]}/cancel", headers=w.alice_h))
    ok(client.post(f"/api/v1/runs/{w.alpha_ext}/metrics", headers=w.alice_h,
                   json={"metrics": [{"key": "loss", "step": 50, "value": 0.1}]}))


# -- dashboard --------------------------------------------------------------------------------

def test_dashboard_pages_of_another_project_are_not_found_pages(client):
    w = make_world(client)
    h = w.alice_h
    assert client.get(f"/experiments/{w.alpha_exp}", headers=h).status_code == 200
    assert client.get(f"/runs/{w.alpha_runs[0]}", headers=h).status_code == 200
    assert client.get(f"/runs/{w.alpha_ext}", headers=h).status_code == 200
    for path, real in (("/experiments/{}", w.beta_exp), ("/runs/{}", w.beta_runs[0]),
                       ("/runs/{}", w.beta_ext)):
        fake = uuid.uuid4().hex
        seen = client.get(path.format(real), headers=h)
        missing = client.get(path.format(fake), headers=h)
        assert seen.status_code == missing.status_code == 404, (path, seen.status_code)
        assert seen.headers["content-type"].startswith("text/html")
        assert seen.text.replace(real, "<ID>") == missing.text.replace(fake, "<ID>")
        assert "beta" not in seen.text and "not-found" in seen.text


# -- a superuser's token limited to one project -------------------------------------------------

def test_superuser_token_limited_to_alpha_sees_only_alpha(client):
    w = make_world(client)
    limited = bearer(mint(client, None, ["read", "write", "admin"], projects=["alpha"])["token"])
    assert [p["name"] for p in ok(client.get("/api/v1/projects", headers=limited))] == ["alpha"]
    assert [e["id"] for e in ok(client.get("/api/v1/experiments",
                                           headers=limited))["experiments"]] == [w.alpha_exp]
    assert {r["id"] for r in ok(client.get("/api/v1/runs", headers=limited))["runs"]} == {
        *w.alpha_runs, w.alpha_ext}
    assert ok(client.get("/api/v1/runs", params={"experiment": w.beta_exp},
                         headers=limited))["runs"] == []
    same_as_missing(lambda i: client.get(f"/api/v1/experiments/{i}", headers=limited),
                    w.beta_exp)
    same_as_missing(lambda i: client.get(f"/api/v1/runs/{i}", headers=limited), w.beta_ext)
    same_as_missing(lambda i: client.post(f"/api/v1/runs/{i}/cancel", headers=limited),
                    w.beta_runs[0])
    same_as_missing(lambda i: client.delete(f"/api/v1/experiments/{i}", headers=limited),
                    w.beta_exp)
    same_as_missing(lambda n: client.get(f"/api/v1/projects/{n}/members", headers=limited),
                    "beta")
    same_as_missing(lambda n: client.post("/api/v1/experiments", headers=limited,
                                          json=point_experiment(n)), "beta")
    assert ok(client.get("/api/v1/me", headers=limited))["projects"] == {"alpha": "admin"}
    # it cannot create projects, by name or by submitting to a new name
    assert_error(client.post("/api/v1/projects", json={"name": "gamma"}, headers=limited), 403)
    assert_error(client.post("/api/v1/experiments", json=point_experiment("gamma"),
                             headers=limited), 404)
    assert [p["name"] for p in ok(client.get("/api/v1/projects"))] == ["alpha", "beta"]
    # nor mint an unlimited token, or one for beta
    response = client.post("/api/v1/tokens", headers=limited, json={"scopes": ["read"]})
    assert_error(response, 422)
    same_as_missing(lambda n: client.post("/api/v1/tokens", headers=limited, json={
        "scopes": ["read"], "projects": [n]}), "beta")
    # its audit log holds alpha's entries, none of beta's
    entries = ok(client.get("/api/v1/audit?limit=1000", headers=limited))["entries"]
    assert "alpha" in {e["project"] for e in entries}
    assert "beta" not in {e["project"] for e in entries}
    assert not any(w.beta_exp in str(e) for e in entries)
    # the dashboard agrees
    assert client.get(f"/experiments/{w.beta_exp}", headers=limited).status_code == 404
    assert client.get(f"/experiments/{w.alpha_exp}", headers=limited).status_code == 200


def _limited_world(client):
    w = make_world(client)
    mint(client, "bob", ["read", "write"], projects=["beta"], name="bob-beta-only")
    limited = bearer(mint(client, None, ["read", "write", "admin"], projects=["alpha"])["token"])
    return w, limited


def test_superuser_token_limited_to_alpha_reads_nothing_of_beta_in_the_audit_log(client):
    """Entries without a project (users, tokens) are a superuser's; a token limited to alpha
    must not learn of beta through them (a token.create entry names the token's projects)."""
    w, limited = _limited_world(client)
    entries = ok(client.get("/api/v1/audit?limit=1000", headers=limited))["entries"]
    leaking = [e for e in entries if "beta" in str(e)]
    assert leaking == [], leaking


def test_superuser_token_limited_to_alpha_reads_nothing_of_beta_in_the_token_list(client):
    w, limited = _limited_world(client)
    response = client.get("/api/v1/tokens?all=true", headers=limited)
    if response.status_code == 200:
        leaking = [t for t in response.json() if "beta" in str(t.get("projects"))]
        assert leaking == [], leaking
    else:
        assert_error(response, 403, "forbidden")


def test_me_lists_the_callers_projects_with_roles(client):
    world = make_world(client)
    assert client.get("/api/v1/me").json()["projects"] == {"alpha": "admin", "beta": "admin"}
    assert ok(client.get("/api/v1/me", headers=world.alice_h))["projects"] == {"alpha": "member"}
    assert ok(client.get("/api/v1/me", headers=world.carol_h))["projects"] == {"alpha": "viewer"}
    limited = bearer(mint(client, None, ["read"], projects=["alpha"])["token"])
    assert ok(client.get("/api/v1/me", headers=limited))["projects"] == {"alpha": "admin"}
