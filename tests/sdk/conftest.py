"""Fixtures of the SDK's tests: a real server process over the test's database (both engines),
and a spool directory of the test's own."""

from __future__ import annotations

from typing import Iterator

import pytest

from ..harness import Server


@pytest.fixture
def srv(db_url, tmp_path) -> Iterator[Server]:
    server = Server(db_url, tmp_path)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def spool(tmp_path, monkeypatch):
    """Where this test's offline runs are spooled (never the user's own directory)."""
    folder = tmp_path / "spool"
    monkeypatch.setenv("OPTRACK_SPOOL_DIR", str(folder))
    monkeypatch.delenv("OPTRACK_SERVER", raising=False)
    monkeypatch.delenv("OPTRACK_TOKEN", raising=False)
    return folder
