"""Alembic migrations on SQLite and PostgreSQL: ``upgrade head`` builds exactly the models'
schema, every step downgrades and upgrades again, concurrent starts migrate once, and /readyz
reports a schema that is not at head."""

from __future__ import annotations

import threading

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text

from service import migrate
from service.app import create_app
from service.db import make_engine
from service.models import Base
from service.settings import Settings

from .conftest import assert_error, superuser_headers


def schema_diff(engine) -> list:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "compare_type": True, "render_as_batch": True,
            "include_object": migrate.include_for(conn.dialect.name)})
        return compare_metadata(context, Base.metadata)


def revision(engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def tables(engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def all_revisions() -> list[str]:
    """Oldest first."""
    script = ScriptDirectory.from_config(migrate.alembic_config())
    return [r.revision for r in script.walk_revisions()][::-1]


def test_upgrade_from_empty_matches_the_models_then_downgrade_and_upgrade_again(db_url):
    engine = make_engine(db_url)
    try:
        assert tables(engine) == set()
        migrate.upgrade(engine)
        assert revision(engine) == migrate.head()
        assert tables(engine) == set(Base.metadata.tables) | {"alembic_version"}
        assert schema_diff(engine) == []
        migrate.downgrade(engine, "base")
        assert tables(engine) <= {"alembic_version"}
        assert revision(engine) is None
        migrate.upgrade(engine)
        assert schema_diff(engine) == []
        assert revision(engine) == migrate.head()
        migrate.upgrade(engine)  # at head already: nothing to do, no error
        assert schema_diff(engine) == []
    finally:
        engine.dispose()


def test_every_revision_downgrades_and_upgrades_one_step_at_a_time(db_url):
    engine = make_engine(db_url)
    revisions = all_revisions()
    assert revisions[-1] == migrate.head()
    try:
        for rev in revisions:
            migrate.upgrade(engine, rev)
            assert revision(engine) == rev
        for previous in [*revisions[-2::-1], None]:
            migrate.downgrade(engine, previous or "base")
            assert revision(engine) == previous
        assert tables(engine) <= {"alembic_version"}
        migrate.upgrade(engine)
        assert schema_diff(engine) == []
    finally:
        engine.dispose()


def test_data_survives_upgrade_from_the_first_revision(db_url, tmp_path):
    """A database made by the first release keeps its rows through every later migration."""
    engine = make_engine(db_url)
    first = all_revisions()[0]
    try:
        migrate.upgrade(engine, first)
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO projects (id, name, created_at) VALUES "
                                 "('p1', 'default', '2024-01-01 00:00:00+00:00')")
            conn.exec_driver_sql(
                "INSERT INTO runs (id, project_id, name, status, external, config, notes, "
                "priority, attempt, created_at) VALUES ('r1', 'p1', 'old run', 'running', "
                "true, '{\"a\": 1}', '', 0, 0, '2024-01-01 00:00:00+00:00')")
    finally:
        engine.dispose()
    app = create_app(Settings(data_dir=tmp_path, database_url=db_url))  # migrates to head
    try:
        with TestClient(app, headers=superuser_headers(app)) as client:
            run = client.get("/api/v1/runs/r1").json()
            assert (run["name"], run["config"], run["status"]) == ("old run", {"a": 1}, "running")
            assert (run["total_steps"], run["step"]) == (None, None)  # 0004: a new, NULL column
            logged = client.post("/api/v1/runs/r1/metrics",
                                 json={"metrics": [{"key": "loss", "step": 1, "value": 0.5}]})
            assert logged.status_code == 200, logged.text
            assert client.get("/api/v1/runs/r1").json()["step"] == 1
    finally:
        app.state.engine.dispose()


def test_runs_keep_their_rows_when_total_steps_is_dropped_and_added_again(db_url):
    """0004 adds runs.total_steps; its downgrade drops the column (SQLite: a table rebuild)
    and keeps every run, and upgrading again brings the column back empty."""
    engine = make_engine(db_url)
    try:
        migrate.upgrade(engine, "0004")
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO projects (id, name, created_at) VALUES "
                                 "('p1', 'default', '2024-01-01 00:00:00+00:00')")
            conn.exec_driver_sql(
                "INSERT INTO runs (id, project_id, name, status, external, config, notes, "
                "priority, attempt, created_at, total_steps) VALUES ('r1', 'p1', 'planned', "
                "'queued', false, '{}', '', 0, 0, '2024-01-01 00:00:00+00:00', 4000000000)")
            assert conn.exec_driver_sql("SELECT total_steps FROM runs").scalar() == 4_000_000_000
        migrate.downgrade(engine, "0003")
        assert "total_steps" not in {c["name"] for c in inspect(engine).get_columns("runs")}
        migrate.upgrade(engine)
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT id, name, total_steps FROM runs").all()
        assert [tuple(r) for r in rows] == [("r1", "planned", None)]
        assert schema_diff(engine) == []
    finally:
        engine.dispose()


def test_concurrent_upgrades_migrate_once(db_url):
    """Several API processes starting together: the lock makes them take turns."""
    engines = [make_engine(db_url) for _ in range(4)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(engines))

    def upgrade(engine):
        try:
            start.wait()
            migrate.upgrade(engine)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=upgrade, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert errors == []
        assert revision(engines[0]) == migrate.head()
        assert schema_diff(engines[0]) == []
    finally:
        for engine in engines:
            engine.dispose()


def test_readyz_is_503_until_the_schema_is_at_head(db_url, tmp_path):
    app = create_app(Settings(data_dir=tmp_path, database_url=db_url, migrate_on_start=False))
    try:
        with TestClient(app) as client:
            assert client.get("/healthz").json() == {"status": "ok"}
            error = assert_error(client.get("/readyz"), 503, "unavailable")
            assert "migration" in error["message"]
            migrate.upgrade(app.state.engine, all_revisions()[0])
            if all_revisions()[0] != migrate.head():
                assert_error(client.get("/readyz"), 503, "unavailable")
            migrate.upgrade(app.state.engine)
            ready = client.get("/readyz")
            assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
            migrate.downgrade(app.state.engine, "base")
            assert_error(client.get("/readyz"), 503, "unavailable")
    finally:
        app.state.engine.dispose()


def test_readyz_is_503_when_the_database_is_unreachable(tmp_path):
    app = create_app(Settings(
        data_dir=tmp_path, migrate_on_start=False,
        database_url="postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2"))
    try:
        with TestClient(app) as client:
            error = assert_error(client.get("/readyz"), 503, "unavailable")
            assert "unreachable" in error["message"]
            assert "nobody" not in error["message"]  # no connection details leak
            assert client.get("/healthz").status_code == 200
    finally:
        app.state.engine.dispose()


def test_upgrading_to_0012_rebuilds_rollups_the_old_code_stored_wrong(db_url):
    """A series as the old code left it after a jump (its whole-series row counts one point of
    two, no bucket 0 at the widths the jump added): upgrading repairs it from the points."""
    engine = make_engine(db_url)
    try:
        migrate.upgrade(engine, "0011")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO projects (id, name, created_at) "
                              "VALUES ('p', 'p', '2026-01-01')"))
            conn.execute(text("INSERT INTO runs (id, project_id, name, status, external, "
                              "config, notes, priority, attempt, created_at) VALUES ('r', 'p', "
                              "'r', 'running', true, '{}', '', 0, 0, '2026-01-01')"))
            conn.execute(text("INSERT INTO metrics (run_id, key, step, value, time) VALUES "
                              "('r', 'v', 0, 1.0, 0), ('r', 'v', 5000, 2.0, 0)"))
            for width, bucket, first in ((64, 0, 0), (64, 78, 5000), (256, 0, 0),
                                         (256, 19, 5000), (16384, 0, 5000), (0, 0, 5000)):
                conn.execute(text(
                    "INSERT INTO metric_rollups VALUES ('r', 'v', :w, :b, 1, :s, 1.0, :s, 1.0, "
                    ":s, 1.0, :s, 1.0)"), {"w": width, "b": bucket, "s": first})
        migrate.upgrade(engine)
        with engine.connect() as conn:
            rows = {(w, b): (n, first) for w, b, n, first in conn.execute(text(
                "SELECT width, bucket, n, first_step FROM metric_rollups WHERE run_id = 'r'"))}
        assert rows[0, 0] == (2, 0) and rows[16384, 0] == (2, 0)
        assert rows[1024, 0] == (1, 0) and rows[4096, 1] == (1, 5000)
    finally:
        engine.dispose()
