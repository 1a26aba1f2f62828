"""The audit log (who did what, seen by whom, paged) and an experiment's soft delete, restore
and purge (project admins only; a deleted experiment and its runs vanish from every view and
from the queue, a restore brings them back intact, a purge removes the rows for good)."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from service.models import (Experiment, ExperimentTag, LatestMetric, Metric, MetricRollup, Run,
                            RunAttempt, RunTag)

from .conftest import assert_error
from .teams import bearer, mint, ok, point_experiment, populate, same_as_missing


def setup(client) -> dict:
    """alpha: dave (admin), alice (member), carol (viewer); beta: bob (admin)."""
    populate(client, {"alpha": {"dave": "admin", "alice": "member", "carol": "viewer"},
                      "beta": {"bob": "admin"}})
    full = ["read", "write", "admin"]
    h = {n: bearer(mint(client, n, full)["token"]) for n in ("alice", "bob", "carol", "dave")}
    h["alice_rw"] = bearer(mint(client, "alice", ["read", "write"])["token"])
    h["worker"] = bearer(mint(client, None, ["worker"])["token"])
    return h


def audit(client, headers=None, **params) -> list[dict]:
    return ok(client.get("/api/v1/audit", params={"limit": 1000, **params},
                         headers=headers))["entries"]


# -- the audit log ----------------------------------------------------------------------------

def test_audit_records_each_action_with_its_actor(client):
    h = setup(client)
    su = ok(client.get("/api/v1/me"))["name"]
    exp = ok(client.post("/api/v1/experiments", json=point_experiment("alpha"),
                         headers=h["alice"]), 201)
    ok(client.post(f"/api/v1/runs/{exp['run_ids'][0]}/cancel", headers=h["alice"]))
    ok(client.delete(f"/api/v1/experiments/{exp['id']}", headers=h["dave"]))
    ok(client.post(f"/api/v1/experiments/{exp['id']}/restore", headers=h["dave"]))
    ok(client.delete(f"/api/v1/experiments/{exp['id']}", headers=h["dave"]))
    ok(client.post(f"/api/v1/experiments/{exp['id']}/purge", headers=h["dave"]), 204)
    ok(client.put("/api/v1/projects/alpha/members/bob", json={"role": "viewer"},
                  headers=h["dave"]))
    ok(client.delete("/api/v1/projects/alpha/members/bob", headers=h["dave"]), 204)
    token = mint(client, None, ["read"], name="dave's own", headers=h["dave"])
    assert client.delete(f"/api/v1/tokens/{token['id']}", headers=h["dave"]).status_code == 204

    entries = audit(client)
    def find(action, **match):
        found = [e for e in entries if e["action"] == action
                 and all(e[k] == v for k, v in match.items())]
        assert len(found) == 1, (action, match, [e for e in entries if e["action"] == action])
        return found[0]

    find("experiment.create", actor="alice", project="alpha", target=exp["id"])
    find("run.cancel", actor="alice", project="alpha", target=exp["run_ids"][0])
    assert [e["actor"] for e in entries if e["action"] == "experiment.delete"] == ["dave", "dave"]
    find("experiment.restore", actor="dave", project="alpha", target=exp["id"])
    purge = find("experiment.purge", actor="dave", project="alpha", target=exp["id"])
    assert purge["detail"]["runs"] == 2
    find("member.grant", actor="dave", project="alpha", target="bob")
    find("member.revoke", actor="dave", project="alpha", target="bob")
    find("member.grant", actor=su, project="alpha", target="alice")
    created = find("token.create", actor="dave", project=None, target=token["prefix"])
    assert created["detail"]["user"] == "dave" and created["detail"]["scopes"] == ["read"]
    find("token.revoke", actor="dave", project=None, target=token["prefix"])
    minted = [e for e in entries if e["action"] == "token.create"
              and e["detail"]["user"] in ("alice", "bob", "carol")]
    assert len(minted) == 4 and {e["actor"] for e in minted} == {su}  # minted for them
    # newest first, ids strictly decreasing; nothing in it is a secret
    assert [e["id"] for e in entries] == sorted((e["id"] for e in entries), reverse=True)
    assert "otk_" not in str([e["detail"] for e in entries])
    assert token["token"] not in client.get("/api/v1/audit?limit=1000").text
    # filtered by action and project
    assert {e["action"] for e in audit(client, action="member.revoke")} == {"member.revoke"}
    assert {e["project"] for e in audit(client, project="alpha")} == {"alpha"}


def test_audit_is_confined_to_the_projects_one_administers(client):
    h = setup(client)
    alpha = ok(client.post("/api/v1/experiments", json=point_experiment("alpha"),
                           headers=h["alice"]), 201)
    beta = ok(client.post("/api/v1/experiments", json=point_experiment("beta"),
                          headers=h["bob"]), 201)
    dave = audit(client, h["dave"])
    assert dave and {e["project"] for e in dave} == {"alpha"}
    assert alpha["id"] in {e["target"] for e in dave}
    assert beta["id"] not in str(dave)
    bob = audit(client, h["bob"])
    assert bob and {e["project"] for e in bob} == {"beta"}
    assert alpha["id"] not in str(bob)
    # the project filter: one's own project, or the same 404 as for a project that is not there
    assert {e["project"] for e in audit(client, h["dave"], project="alpha")} == {"alpha"}
    same_as_missing(lambda n: client.get("/api/v1/audit", params={"project": n},
                                         headers=h["dave"]), "beta")
    # a member: without the admin scope the route is closed (403) ...
    assert_error(client.get("/api/v1/audit", headers=h["alice_rw"]), 403, "forbidden")
    # ... with it, she administers no project: her log is empty, and alpha's is forbidden
    assert audit(client, h["alice"]) == []
    assert_error(client.get("/api/v1/audit", params={"project": "alpha"}, headers=h["alice"]),
                 403, "forbidden")
    assert audit(client, h["carol"]) == []
    # the superuser sees everything, including entries about users and tokens
    everything = audit(client)
    assert {"alpha", "beta", None} <= {e["project"] for e in everything}
    assert {"user.create", "token.create"} <= {e["action"] for e in everything}


def test_audit_pages(client):
    h = setup(client)
    for i in range(5):
        ok(client.post("/api/v1/experiments", json=point_experiment("alpha", name=f"e{i}",
                                                                    seeds=1),
                       headers=h["alice"]), 201)
    for headers in (None, h["dave"]):
        everything = audit(client, headers)
        assert len(everything) >= 9
        for limit in (1, 2, 4):
            seen, token, pages = [], None, 0
            while True:
                params = {"limit": limit} | ({"page_token": token} if token else {})
                page = ok(client.get("/api/v1/audit", params=params, headers=headers))
                assert len(page["entries"]) <= limit
                seen += page["entries"]
                pages += 1
                token = page["next_page_token"]
                if token is None:
                    break
                assert len(page["entries"]) == limit
            assert [e["id"] for e in seen] == [e["id"] for e in everything], limit
            assert pages == -(-len(everything) // limit)
    # paging combines with the filters
    page = ok(client.get("/api/v1/audit", params={"limit": 2, "action": "experiment.create"}))
    assert len(page["entries"]) == 2 and page["next_page_token"]
    rest = ok(client.get("/api/v1/audit", params={"limit": 10, "action": "experiment.create",
                                                  "page_token": page["next_page_token"]}))
    assert [e["action"] for e in rest["entries"]] == ["experiment.create"] * 3
    assert rest["next_page_token"] is None
    # bad paging parameters
    for params in ({"page_token": "abc"}, {"page_token": "-1"}, {"limit": 0},
                   {"limit": 100000}, {"limit": "x"}):
        assert_error(client.get("/api/v1/audit", params=params), 422, "invalid_input")


# -- soft delete, restore, purge --------------------------------------------------------------

def _experiment_with_work(client, h) -> dict:
    """An alpha experiment of 3 runs: one leased with metrics logged, two queued."""
    exp = ok(client.post("/api/v1/experiments", json=point_experiment("alpha", seeds=3,
                                                                      tags=["keep"]),
                         headers=h["alice"]), 201)
    leased = ok(client.post("/api/v1/worker/lease", json={"worker_id": "w", "wait": 0},
                            headers=h["worker"]))
    ok(client.post(f"/api/v1/worker/runs/{leased['run_id']}/metrics", headers=h["worker"], json={
        "attempt": leased["attempt"],
        "metrics": [{"key": "train_loss", "step": s, "value": 10.0 - s} for s in range(20)]}))
    history = ok(client.get(f"/api/v1/runs/{leased['run_id']}/metrics", headers=h["alice"]))
    return {"id": exp["id"], "runs": exp["run_ids"], "running": leased["run_id"],
            "attempt": leased["attempt"], "history": history}


def test_only_project_admins_delete_restore_and_purge(client):
    h = setup(client)
    e = _experiment_with_work(client, h)
    statuses = lambda: sorted(ok(client.get(f"/api/v1/runs/{r}"))["status"] for r in e["runs"])
    before = statuses()
    assert before == ["queued", "queued", "running"]
    for who, status in (("alice", 403), ("alice_rw", 403), ("carol", 403), ("bob", 404)):
        assert_error(client.delete(f"/api/v1/experiments/{e['id']}", headers=h[who]), status)
        assert_error(client.post(f"/api/v1/experiments/{e['id']}/purge", headers=h[who]),
                     status)
    with client.app.state.reader() as session:
        assert session.get(Experiment, e["id"]).deleted_at is None
        assert session.scalar(select(func.count()).select_from(Run).where(
            Run.experiment_id == e["id"], Run.deleted_at.is_not(None))) == 0
    assert statuses() == before
    ok(client.get(f"/api/v1/experiments/{e['id']}", headers=h["alice"]))

    ok(client.delete(f"/api/v1/experiments/{e['id']}", headers=h["dave"]))
    for who, status in (("alice", 403), ("carol", 403), ("bob", 404)):
        assert_error(client.post(f"/api/v1/experiments/{e['id']}/restore", headers=h[who]),
                     status)
        assert_error(client.post(f"/api/v1/experiments/{e['id']}/purge", headers=h[who]),
                     status)
    with client.app.state.reader() as session:
        assert session.get(Experiment, e["id"]).deleted_at is not None
    assert ok(client.get("/api/v1/experiments?deleted=true",
                         headers=h["dave"]))["experiments"][0]["id"] == e["id"]


def test_soft_delete_hides_everything_and_restore_brings_it_back(client):
    h = setup(client)
    e = _experiment_with_work(client, h)
    other = ok(client.post("/api/v1/experiments", json=point_experiment("alpha", name="other",
                                                                        seeds=1),
                           headers=h["alice"]), 201)
    deleted = ok(client.delete(f"/api/v1/experiments/{e['id']}", headers=h["dave"]))
    assert deleted["id"] == e["id"]

    for headers in (h["alice"], h["dave"], None):  # the superuser client too
        same_as_missing(lambda i: client.get(f"/api/v1/experiments/{i}", headers=headers),
                        e["id"])
        same_as_missing(lambda i: client.get(f"/api/v1/experiments/{i}/export?format=csv",
                                             headers=headers), e["id"])
        assert [x["id"] for x in ok(client.get("/api/v1/experiments",
                                               headers=headers))["experiments"]] == [other["id"]]
        for run in e["runs"]:
            same_as_missing(lambda i: client.get(f"/api/v1/runs/{i}", headers=headers), run)
            same_as_missing(lambda i: client.get(f"/api/v1/runs/{i}/metrics", headers=headers),
                            run)
            same_as_missing(lambda i: client.get(f"/api/v1/runs/{i}/attempts", headers=headers),
                            run)
            same_as_missing(lambda i: client.post(f"/api/v1/runs/{i}/cancel", headers=headers),
                            run)
            same_as_missing(lambda i: client.patch(f"/api/v1/runs/{i}", json={"notes": "x"},
                                                   headers=headers), run)
            same_as_missing(lambda i: client.post("/api/v1/metrics/query", headers=headers,
                                                  json={"run_ids": [other["run_ids"][0], i],
                                                        "keys": ["train_loss"]}), run)
            for page in (f"/runs/{run}", f"/experiments/{e['id']}"):
                assert client.get(page, headers=headers).status_code == 404
        runs = ok(client.get("/api/v1/runs", headers=headers))["runs"]
        assert [r["id"] for r in runs] == other["run_ids"]
        for params in ({"experiment": e["id"]}, {"filter": f"experiment = '{e['id']}'"},
                       {"filter": "tags contains 'keep'"}, {"filter": "metrics.train_loss > 0"},
                       {"order_by": "metrics.train_loss desc", "limit": 1}):
            found = ok(client.get("/api/v1/runs", params=params, headers=headers))["runs"]
            assert not {r["id"] for r in found} & set(e["runs"]), params

    # its active runs were cancelled: the queue hands none of them out, the worker stops
    with client.app.state.reader() as session:
        rows = session.scalars(select(Run).where(Run.experiment_id == e["id"])).all()
        assert {r.status for r in rows} == {"cancelled"}
        assert all(r.deleted_at is not None for r in rows)
        attempt = session.get(RunAttempt, (e["running"], e["attempt"]))
        assert attempt.outcome == "cancelled" and attempt.ended_at is not None
    leased = ok(client.post("/api/v1/worker/lease", json={"worker_id": "w", "wait": 0},
                            headers=h["worker"]))
    assert leased["run_id"] == other["run_ids"][0]
    assert client.post("/api/v1/worker/lease", json={"worker_id": "w2", "wait": 0},
                       headers=h["worker"]).status_code == 204  # another worker: nothing
    beat = client.post(f"/api/v1/worker/runs/{e['running']}/heartbeat",
                       json={"attempt": e["attempt"]}, headers=h["worker"])
    assert beat.status_code == 409 or beat.json()["cancelled"] is True, beat.text
    assert_error(client.post(f"/api/v1/worker/runs/{e['running']}/metrics", headers=h["worker"],
                             json={"attempt": e["attempt"], "metrics": [
                                 {"key": "train_loss", "step": 99, "value": 1.0}]}), 409)

    # listed among the deleted for admins only
    for headers in (h["dave"], None):
        listed = ok(client.get("/api/v1/experiments?deleted=true", headers=headers))
        assert [x["id"] for x in listed["experiments"]] == [e["id"]]
    for who in ("alice", "carol", "bob"):
        assert ok(client.get("/api/v1/experiments?deleted=true",
                             headers=h[who]))["experiments"] == []

    # restore: everything is back, runs and metrics intact (cancelled stays cancelled)
    restored = ok(client.post(f"/api/v1/experiments/{e['id']}/restore", headers=h["dave"]))
    assert restored["status_counts"] == {"cancelled": 3}
    assert ok(client.get("/api/v1/experiments?deleted=true", headers=h["dave"]))[
        "experiments"] == []
    detail = ok(client.get(f"/api/v1/experiments/{e['id']}", headers=h["alice"]))
    assert sorted(detail["run_ids"]) == sorted(e["runs"])
    assert ok(client.get(f"/api/v1/runs/{e['running']}/metrics",
                         headers=h["alice"])) == e["history"]
    found = ok(client.get("/api/v1/runs", params={"experiment": e["id"]},
                          headers=h["alice"]))["runs"]
    assert sorted(r["id"] for r in found) == sorted(e["runs"])
    assert ok(client.get("/api/v1/runs", params={"filter": "tags contains 'keep'"},
                         headers=h["alice"]))["runs"]
    assert client.get(f"/experiments/{e['id']}", headers=h["alice"]).status_code == 200
    assert client.get(f"/runs/{e['running']}", headers=h["alice"]).status_code == 200
    assert ok(client.post("/api/v1/metrics/query", headers=h["alice"], json={
        "run_ids": [e["running"]], "keys": ["train_loss"]}))["series"][0]["total_points"] == 20
    # restoring again: it is not deleted any more
    assert_error(client.post(f"/api/v1/experiments/{e['id']}/restore", headers=h["dave"]), 404)


def _rows_of(session, run_ids: list[str], experiment_id: str) -> dict[str, int]:
    counts = {}
    for model in (Run, Metric, LatestMetric, MetricRollup, RunAttempt, RunTag):
        column = model.id if model is Run else model.run_id
        counts[model.__tablename__] = session.scalar(
            select(func.count()).select_from(model).where(column.in_(run_ids)))
    counts["experiments"] = session.scalar(select(func.count()).select_from(Experiment).where(
        Experiment.id == experiment_id))
    counts["experiment_tags"] = session.scalar(select(func.count()).select_from(
        ExperimentTag).where(ExperimentTag.experiment_id == experiment_id))
    return counts


def test_purge_needs_a_deleted_experiment_and_then_removes_every_row(client):
    h = setup(client)
    e = _experiment_with_work(client, h)
    keep = ok(client.post("/api/v1/experiments", json=point_experiment("alpha", name="keep",
                                                                       seeds=1,
                                                                       tags=["keep"]),
                          headers=h["alice"]), 201)
    with client.app.state.reader() as session:
        before = _rows_of(session, e["runs"], e["id"])
        kept = _rows_of(session, keep["run_ids"], keep["id"])
    assert before["runs"] == 3 and before["metrics"] == 20 and before["latest_metrics"] == 1
    assert before["experiment_tags"] == 1 and before["run_tags"] == 3
    assert before["metric_rollups"] > 0 and before["run_attempts"] == 1

    # not deleted: 409, nothing changes
    assert_error(client.post(f"/api/v1/experiments/{e['id']}/purge", headers=h["dave"]), 409,
                 "conflict")
    with client.app.state.reader() as session:
        assert _rows_of(session, e["runs"], e["id"]) == before
    ok(client.get(f"/api/v1/experiments/{e['id']}", headers=h["alice"]))

    ok(client.delete(f"/api/v1/experiments/{e['id']}", headers=h["dave"]))
    ok(client.post(f"/api/v1/experiments/{e['id']}/purge", headers=h["dave"]), 204)
    with client.app.state.reader() as session:
        after = _rows_of(session, e["runs"], e["id"])
        assert after == dict.fromkeys(after, 0), after
        assert _rows_of(session, keep["run_ids"], keep["id"]) == kept  # the other one stays
    # gone for good: not deleted, not restorable, not purgeable twice
    for path in (f"/api/v1/experiments/{e['id']}", f"/api/v1/runs/{e['runs'][0]}"):
        assert_error(client.get(path, headers=h["dave"]), 404)
    assert_error(client.post(f"/api/v1/experiments/{e['id']}/restore", headers=h["dave"]), 404)
    assert_error(client.post(f"/api/v1/experiments/{e['id']}/purge", headers=h["dave"]), 404)
    assert ok(client.get("/api/v1/experiments?deleted=true", headers=h["dave"]))[
        "experiments"] == []
    assert [x["id"] for x in ok(client.get("/api/v1/experiments"))["experiments"]] == [keep["id"]]
    assert_error(client.post(f"/api/v1/experiments/{uuid.uuid4().hex}/purge", headers=h["dave"]),
                 404)


def test_purge_removes_the_runs_checkpoint_files(client):
    """'Remove … for good, with its runs': a purged run's checkpoint blob must not stay in the
    data directory (no other run refers to it)."""
    h = setup(client)
    e = _experiment_with_work(client, h)
    blob = b"checkpoint of a run about to be purged " + uuid.uuid4().bytes
    ok(client.put(f"/api/v1/worker/runs/{e['running']}/checkpoint?attempt={e['attempt']}&step=5",
                  content=blob, headers={**h["worker"],
                                         "content-type": "application/octet-stream"}))
    directory = client.app.state.settings.data_dir / "checkpoints"
    stored = [p for p in directory.iterdir() if p.is_file() and p.read_bytes() == blob]
    assert len(stored) == 1
    ok(client.delete(f"/api/v1/experiments/{e['id']}", headers=h["dave"]))
    assert stored[0].exists()  # a soft delete keeps it, for a restore
    ok(client.post(f"/api/v1/experiments/{e['id']}/purge", headers=h["dave"]), 204)
    assert not stored[0].exists(), "the purged run's checkpoint blob is still on disk"
