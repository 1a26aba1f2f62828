"""Writes the database refuses, on SQLite and PostgreSQL: creations of one name that race give
one success and one 409 (never a 500), attempt outcomes outside the enum are refused by the
schema itself, and every refusal is translated by its constraint's name."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from service import migrate
from service.auth import accounts
from service.db import make_engine, session_makers
from service.errors import Conflict, constraint_name, from_integrity
from service.models import (OUTCOME_VALUES, Base, Membership, Project, Run, RunAttempt, User,
                            utcnow)
from service.projects import create_project

from .conftest import assert_error


@pytest.fixture
def migrated(db_url):
    """An engine on a database built by the migrations (not by the models), so the constraints
    tested are the ones production databases have."""
    engine = make_engine(db_url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


def _refusal(engine, statement) -> IntegrityError:
    writer, _ = session_makers(engine)
    with writer() as session, pytest.raises(IntegrityError) as caught:
        session.execute(statement)
        session.commit()
    return caught.value


def _run(engine) -> str:
    writer, _ = session_makers(engine)
    with writer() as session:
        project = create_project(session, "cli", f"p-{utcnow().timestamp()}")
        run = Run(project_id=project.id, name="r", config={}, status="running", attempt=1)
        session.add(run)
        session.commit()
        return run.id


def test_an_attempt_outcome_outside_the_enum_is_refused_by_the_database(migrated):
    run_id = _run(migrated)
    writer, _ = session_makers(migrated)
    with writer() as session:  # every outcome of the enum, and none, is stored
        for attempt, outcome in enumerate([*OUTCOME_VALUES, None], start=1):
            session.add(RunAttempt(run_id=run_id, attempt=attempt, worker_id="w",
                                   outcome=outcome))
        session.commit()
    refused = _refusal(migrated, insert(RunAttempt).values(
        run_id=run_id, attempt=99, worker_id="w", started_at=utcnow(), outcome="pruned-ish"))
    assert constraint_name(refused, Base.metadata) == "ck_run_attempts_outcome"
    error = from_integrity(refused, Base.metadata)
    assert isinstance(error, Conflict) and error.status == 409
    assert error.details[0]["constraint"] == "ck_run_attempts_outcome"
    with writer() as session:
        assert session.scalar(select(func.count()).select_from(RunAttempt)) == \
            len(OUTCOME_VALUES) + 1


def test_unique_refusals_are_named_by_their_constraint_on_both_engines(migrated):
    row = {"id": "u1", "name": "twice", "superuser": False, "created_at": utcnow()}
    writer, _ = session_makers(migrated)
    with writer() as session:
        session.execute(insert(User).values(**row))
        session.commit()
    refused = _refusal(migrated, insert(User).values(**{**row, "id": "u2"}))
    assert constraint_name(refused, Base.metadata) == "uq_users_name"
    assert from_integrity(refused, Base.metadata).message == \
        "a user with this name already exists"
    with writer() as session:
        session.execute(insert(Project).values(id="p1", name="team", created_at=utcnow()))
        session.execute(insert(Membership).values(project_id="p1", user_id="u1", role="viewer",
                                                  created_at=utcnow()))
        session.commit()
    refused = _refusal(migrated, insert(Project).values(id="p2", name="team", created_at=utcnow()))
    assert constraint_name(refused, Base.metadata) == "uq_projects_name"
    refused = _refusal(migrated, insert(Membership).values(
        project_id="p1", user_id="u1", role="admin", created_at=utcnow()))
    assert constraint_name(refused, Base.metadata) == "pk_memberships"


def test_a_project_created_twice_at_once_is_created_once(migrated):
    writer, _ = session_makers(migrated)
    outcome: dict[str, str] = {}

    def second() -> None:
        with writer() as session:
            try:
                create_project(session, "cli", "raced")
                session.commit()
                outcome["second"] = "created"
            except Conflict:
                outcome["second"] = "conflict"

    with writer() as first:
        create_project(first, "cli", "raced")  # inserted, not yet committed
        racer = threading.Thread(target=second)
        racer.start()
        racer.join(0.5)
        assert racer.is_alive(), "the second creation did not wait for the first"
        first.commit()
    racer.join(30)
    assert outcome == {"second": "conflict"}
    with writer() as session:
        assert session.scalar(select(func.count()).select_from(Project)
                              .where(Project.name == "raced")) == 1


def test_a_user_added_twice_at_once_is_added_once(migrated):
    writer, _ = session_makers(migrated)
    barrier = threading.Barrier(2)

    def add() -> str:
        with writer() as session:
            barrier.wait()
            try:
                accounts.add_user(session, "cli", "same-name")
                session.commit()
                return "created"
            except Conflict:
                return "conflict"

    with ThreadPoolExecutor(2) as pool:
        assert sorted(pool.map(lambda _: add(), range(2))) == ["conflict", "created"]


def test_concurrent_project_creations_over_http_give_one_201_and_one_409(client):
    barrier = threading.Barrier(2)

    def post(name: str):
        barrier.wait()
        return client.post("/api/v1/projects", json={"name": name})

    for i in range(8):
        name = f"team-{i}"
        with ThreadPoolExecutor(2) as pool:
            responses = list(pool.map(post, [name, name]))
        assert sorted(r.status_code for r in responses) == [201, 409], \
            [(r.status_code, r.text) for r in responses]
        assert_error(next(r for r in responses if r.status_code == 409), 409, "conflict")
    listed = {p["name"] for p in client.get("/api/v1/projects").json()}
    assert {f"team-{i}" for i in range(8)} <= listed
