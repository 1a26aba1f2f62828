"""Helpers of the teams-and-security tests: users, projects, roles and tokens made through the
admin API with the superuser client, and the check that an answer is the one a missing id
gets. The world most of them use: projects alpha and beta; alice a member of alpha, bob of
beta, carol a viewer of alpha."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from .conftest import assert_error

POINT = {"model": {"kind": "point", "function": "anisotropic"},
         "optimizer": {"name": "sgd", "lr": 0.1}}


# -- helpers shared by the security test modules ----------------------------------------------

def point_experiment(project: str, name: str = "p", seeds: int = 2, **extra: Any) -> dict:
    """A small valid experiment: a point model, ``seeds`` runs."""
    training: dict[str, Any] = {"steps": 30}
    if seeds > 1:
        training["seed"] = list(range(seeds))
    return {"name": name, "project": project, **POINT, "training": training, **extra}


def bearer(secret: str) -> dict[str, str]:
    return {"authorization": f"Bearer {secret}"}


def ok(response, status: int = 200):
    assert response.status_code == status, (response.status_code, response.text[:2000])
    return response.json() if response.content and status != 204 else None


def add_user(client, name: str, superuser: bool = False) -> None:
    ok(client.post("/api/v1/users", json={"name": name, "superuser": superuser}), 201)


def add_project(client, name: str) -> None:
    ok(client.post("/api/v1/projects", json={"name": name}), 201)


def grant(client, project: str, user: str, role: str) -> None:
    ok(client.put(f"/api/v1/projects/{project}/members/{user}", json={"role": role}))


def populate(client, projects: dict[str, dict[str, str]]) -> None:
    """Users, projects and roles from ``{project: {user: role}}`` (each user made once)."""
    for name in sorted({user for members in projects.values() for user in members}):
        add_user(client, name)
    for project, members in projects.items():
        add_project(client, project)
        for user, role in members.items():
            grant(client, project, user, role)


def mint(client, user: str | None, scopes: list[str], projects: list[str] | None = None,
         expires_in_days: float | None = None, name: str = "t", headers=None) -> dict:
    """A new token (the superuser client mints for ``user``); the response, with the secret in
    ``token``."""
    body: dict[str, Any] = {"name": name, "scopes": scopes}
    if user is not None:
        body["user"] = user
    if projects is not None:
        body["projects"] = projects
    if expires_in_days is not None:
        body["expires_in_days"] = expires_in_days
    return ok(client.post("/api/v1/tokens", json=body, headers=headers), 201)


def same_as_missing(call: Callable[[str], Any], real: str, status: int = 404,
                    code: str | None = "not_found") -> None:
    """``call(real)`` answers exactly as ``call(<an id that never existed>)``: same status,
    same error, same body once the id is blanked out."""
    is_id = len(real) == 32 and all(c in "0123456789abcdef" for c in real)
    fake = uuid.uuid4().hex if is_id else "nx" + uuid.uuid4().hex[:6]  # an id, or a name
    seen, missing = call(real), call(fake)
    assert_error(seen, status, code)
    assert_error(missing, status, code)
    assert seen.text.replace(real, "<ID>") == missing.text.replace(fake, "<ID>"), (
        seen.text, missing.text)
    assert seen.headers.get("content-type") == missing.headers.get("content-type")


@dataclass
class World:
    """alpha: alice (member), carol (viewer); beta: bob (member). ``*_h`` are headers."""

    alice_h: dict[str, str]
    bob_h: dict[str, str]
    carol_h: dict[str, str]
    alpha_exp: str
    alpha_runs: list[str]
    alpha_ext: str
    beta_exp: str
    beta_runs: list[str]
    beta_ext: str
    tokens: dict[str, dict] = field(default_factory=dict)


def make_world(client, alice_role: str = "member") -> World:
    populate(client, {"alpha": {"alice": alice_role, "carol": "viewer"},
                      "beta": {"bob": "member"}})
    scopes = ["read", "write", "admin"]
    tokens = {n: mint(client, n, scopes) for n in ("alice", "bob", "carol")}
    alice_h, bob_h, carol_h = (bearer(tokens[n]["token"]) for n in ("alice", "bob", "carol"))
    ids: dict[str, Any] = {}
    for project, headers in (("alpha", alice_h), ("beta", bob_h)):
        exp = ok(client.post("/api/v1/experiments", json=point_experiment(project, f"{project} e"),
                             headers=headers), 201)
        ext = ok(client.post("/api/v1/runs", json={"name": f"{project} ext", "project": project,
                                                   "tags": ["t"], "notes": "n"},
                             headers=headers), 201)
        ok(client.post(f"/api/v1/runs/{ext['id']}/metrics", headers=headers, json={"metrics": [
            {"key": "loss", "step": s, "value": 1.0 / (s + 1)} for s in range(5)]}))
        ids[project] = (exp["id"], exp["run_ids"], ext["id"])
    return World(alice_h, bob_h, carol_h, *ids["alpha"][:2], ids["alpha"][2],
                 *ids["beta"][:2], ids["beta"][2], tokens)
