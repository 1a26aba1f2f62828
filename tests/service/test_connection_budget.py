"""Connection pools against the database's limit: the pool settings reach every API process's
engine, and ``optrack serve --workers N`` warns when N processes could open more PostgreSQL
connections than the server accepts (requests would fail under load, not at start)."""

from __future__ import annotations

from sqlalchemy import text

from service.db import connection_budget, make_engine

from ..harness.internals import Settings, create_app


def test_the_pool_settings_size_each_api_process_s_pool(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("OPTRACK_DB_POOL_SIZE", "3")
    monkeypatch.setenv("OPTRACK_DB_MAX_OVERFLOW", "4")
    app = create_app(Settings(database_url=db_url, data_dir=tmp_path))
    try:
        assert app.state.engine.pool.size() == 3
        assert app.state.engine.pool._max_overflow == 4
    finally:
        app.state.engine.dispose()


def test_more_connections_than_postgresql_accepts_are_named_with_the_settings_to_change(db_url):
    engine = make_engine(db_url)
    try:
        if engine.dialect.name == "sqlite":  # one file, no connection limit
            assert connection_budget(engine, 64, 1000) is None
            return
        with engine.connect() as conn:
            limit = int(conn.execute(text("SHOW max_connections")).scalar_one())
            reserved = int(conn.execute(text("SHOW superuser_reserved_connections")).scalar_one())
        assert connection_budget(engine, 1, limit - reserved) is None
        warning = connection_budget(engine, 4, limit)
        assert warning is not None
        assert f"up to {4 * limit} PostgreSQL connections" in warning
        assert f"max_connections of {limit}" in warning
        assert "OPTRACK_DB_POOL_SIZE" in warning and "OPTRACK_DB_MAX_OVERFLOW" in warning
    finally:
        engine.dispose()
