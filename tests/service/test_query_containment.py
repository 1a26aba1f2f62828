"""A config path's equality on PostgreSQL is also written as jsonb containment
(``config @> '{"a": {"b": v}}'``), which the GIN index ``ix_runs_config`` answers: the same runs
match as on SQLite, where it is not added, whatever the stored types — and on PostgreSQL the
index can find them."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.models import Run
from service.query import RunQuery
from service.query.compiler import containment
from tests.service.test_query import add_runs, fetch

CONFIGS = {
    "int": {"a": {"b": 1}}, "float": {"a": {"b": 1.0}}, "array": {"a": [{"b": 1}]},
    "string": {"a": {"b": "1"}}, "bool": {"a": {"b": True}}, "tenth": {"a": {"b": 0.1}},
    "big": {"a": {"b": 9007199254740993}},  # 2^53 + 1: the nearest double is 2^53
    "negative zero": {"a": {"b": -0.0}}, "object": {"a": {"b": {"c": 1}}},
    "null": {"a": {"b": None}}, "scalar": {"a": "x"}, "empty": {},
}
ALL = set(CONFIGS)
CASES = [
    ("a.b = 1", {"int", "float"}),
    ("a.b = 1.0", {"int", "float"}),
    ("a.b = '1'", {"string"}),
    ("a.b = true", {"bool"}),
    ("a.b = 0.1", {"tenth"}),
    ("a.b = 0", {"negative zero"}),
    ("a.b = 9007199254740992", {"big"}),  # compared as doubles, as everywhere else
    ("a.b in (1, 0.1)", {"int", "float", "tenth"}),
    ("a.b in ('1', 'x')", {"string"}),
    ("a.b not in (1, 0.1)", {"big", "negative zero"}),
    ("not a.b = 1", ALL - {"int", "float"}),
    ("a.b = 1 or a.b = true", {"int", "float", "bool"}),
    ("a.b.c = 1", {"object"}),
]


@pytest.fixture
def project(engine):
    with Session(engine) as session:
        yield session, add_runs(session, [dict(id=name, config=config)
                                          for name, config in CONFIGS.items()])


@pytest.mark.parametrize("filter_text, expected", CASES)
def test_config_equality_matches_the_same_runs_on_both_engines(project, filter_text, expected):
    session, proj = project
    assert set(fetch(session, proj, filter_text)[0]) == expected


def test_keys_that_could_index_arrays_and_huge_numbers_get_no_containment():
    assert containment(("a", "0"), [1.0]) is None  # #> reads "0" as an array index
    assert containment(("a", " -2 "), ["x"]) is None
    assert containment(("a", "b"), [2.0 ** 53]) is None
    assert containment(("a", "b"), [1.0, float("inf")]) is None
    assert containment(("a", "b"), [1.0, "x", True]) is not None


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # the index is PostgreSQL's
def test_postgresql_finds_a_config_value_through_the_gin_index(project):
    session, _ = project
    assert session.bind.dialect.name == "postgresql"
    from psycopg.types.json import Jsonb

    query = RunQuery.parse("a.b = 1", dialect="postgresql")
    stmt = query.select(select(Run), None, 50)  # every project's runs: a superuser's search
    compiled = stmt.compile(dialect=session.bind.dialect)
    params = {k: Jsonb(v) if isinstance(v, dict) else v for k, v in compiled.params.items()}
    conn = session.connection()
    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # a dozen rows: force the choice
    plan = "\n".join(conn.exec_driver_sql(f"EXPLAIN {compiled}", params).scalars())
    assert "ix_runs_config" in plan, plan
