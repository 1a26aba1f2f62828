"""The runs query language: the parser on its own, then filters, ordering and pagination on
real SQLite and PostgreSQL databases."""

from __future__ import annotations

import base64
import functools
import itertools
import json
import math
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from service.models import Experiment, LatestMetric, Project, Run, RunTag
from service.query import QueryError, RunQuery
from service.query.parser import (MAX_DEPTH, And, Compare, Contains, Field, InList, IsNull, Not,
                                  Or, OrderItem, parse_filter, parse_order_by)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
SQLISH = "x' OR 1=1 --"
_PROJECT_NUMBERS = itertools.count()


def cfg(optimizer: Any = "adam", lr: Any = 0.001, dataset: Any = "digits", **extra: Any) -> dict:
    """A run config in the stored shape; ``extra`` merges into the optimizer or training."""
    training = {"epochs": 20, "batch_size": extra.pop("batch_size", 128), "seed": 0}
    return {"dataset": {"name": dataset, "seed": 0}, "model": {"kind": "mlp", "hidden": [100]},
            "optimizer": {"name": optimizer, "lr": lr, **extra}, "schedule": {"name": "constant"},
            "training": training}


def add_runs(session: Session, specs: list[dict[str, Any]]) -> Project:
    """A fresh project holding one run per spec: name, id, config, status, tags, metrics
    (key → latest value; None is how a NaN is stored), created, external, experiment."""
    project = Project(name=f"project-{next(_PROJECT_NUMBERS)}")
    session.add(project)
    session.flush()
    session.add_all(Experiment(id=experiment, project_id=project.id, name="e", request={})
                    for experiment in {spec.get("experiment") for spec in specs} - {None})
    for spec in specs:
        run = Run(id=spec["id"], project_id=project.id, name=spec.get("name", spec["id"]),
                  status=spec.get("status", "succeeded"), config=spec.get("config", {}),
                  external=spec.get("external", False), created_at=spec.get("created", T0),
                  experiment_id=spec.get("experiment"))
        run.tags = [RunTag(tag=tag) for tag in spec.get("tags", ())]
        session.add(run)
        session.flush()
        session.add_all(LatestMetric(run_id=run.id, key=key, step=9, value=value)
                        for key, value in spec.get("metrics", {}).items())
    session.commit()
    return project


def fetch(session: Session, project: Project, filter_text: str | None = None,
          order_by: str | None = None, limit: int = 1000, token: str | None = None):
    """One page of runs, as (ids, next token)."""
    query = RunQuery.parse(filter_text, order_by, dialect=session.bind.dialect.name)
    stmt = query.select(select(Run).where(Run.project_id == project.id), token, limit)
    runs, next_token = query.page(session.execute(stmt).all(), limit)
    return [run.id for run in runs], next_token


def fetch_all_pages(session, project, filter_text, order_by, limit) -> list[str]:
    """The ids of every page in turn, checking that each page but the last is full."""
    ids, token = fetch(session, project, filter_text, order_by, limit)
    for _ in range(100):
        if token is None:
            return ids
        assert len(ids) % limit == 0
        more, token = fetch(session, project, filter_text, order_by, limit, token)
        ids += more
    raise AssertionError("more than 100 pages: the cursor is not advancing")


# -- parser ----------------------------------------------------------------------------------

LR = Field("config", "optimizer.lr", ("optimizer", "lr"))
OPT = Field("config", "optimizer.name", ("optimizer", "name"))


def test_precedence_is_not_then_and_then_or():
    assert parse_filter("lr = 1 or lr = 2 and not lr = 3") == Or((
        Compare(LR, "=", 1.0), And((Compare(LR, "=", 2.0), Not(Compare(LR, "=", 3.0))))))


def test_parentheses_override_precedence_and_keywords_ignore_case():
    assert parse_filter("(lr = 1 OR lr = 2) AnD NOT (lr = 3)") == And((
        Or((Compare(LR, "=", 1.0), Compare(LR, "=", 2.0))), Not(Compare(LR, "=", 3.0))))


@pytest.mark.parametrize("op", ["=", "!=", "<", "<=", ">", ">="])
def test_every_comparison_operator(op):
    assert parse_filter(f"lr{op}0.5") == Compare(LR, op, 0.5)


@pytest.mark.parametrize("text, value", [
    ("'adam'", "adam"), ('"adam"', "adam"), ("''", ""), ("'it''s'", "it's"),
    ('"say ""hi"""', 'say "hi"'), (r"'it\'s'", "it's"), (r'"a\"b"', 'a"b'),
    (r"'back\\slash'", "back\\slash"), (r"'tab\tnew\nline'", "tab\tnew\nline"),
    ("'ünï ☃'", "ünï ☃"), ("3", 3.0), ("-2.5", -2.5), ("1e-3", 0.001), ("-1E+2", -100.0),
    (".5", 0.5), ("7.", 7.0), ("true", True), ("FALSE", False),
])
def test_literals(text, value):
    node = parse_filter(f"optimizer.x = {text}")
    assert node == Compare(Field("config", "optimizer.x", ("optimizer", "x")), "=", value)
    assert type(node.value) is type(value)


def test_null_in_list_not_in_contains():
    assert parse_filter("lr = null") == IsNull(LR, False)
    assert parse_filter("lr != NULL") == IsNull(LR, True)
    assert parse_filter("optimizer in ('adam', 'sgd')") == InList(OPT, ("adam", "sgd"), False)
    assert parse_filter("lr not in (1, 2.5)") == InList(LR, (1.0, 2.5), True)
    assert parse_filter("tags CONTAINS 'ch6'") == Contains("ch6")
    assert parse_filter("not tags contains 'a'") == Not(Contains("a"))


@pytest.mark.parametrize("alias, path", [
    ("optimizer", "optimizer.name"), ("lr", "optimizer.lr"), ("dataset", "dataset.name"),
    ("model", "model.kind"), ("batch_size", "training.batch_size"),
    ("epochs", "training.epochs"), ("seed", "training.seed"),
])
def test_aliases_name_config_paths(alias, path):
    assert parse_filter(f"{alias} = 1") == parse_filter(f"{path} = 1")


def test_fields_of_every_kind():
    assert parse_filter("metrics.val/acc.top-1 > 0.5") == Compare(
        Field("metric", "val/acc.top-1"), ">", 0.5)
    assert parse_filter("model.hidden_size.x = 'a'") == Compare(
        Field("config", "model.hidden_size.x", ("model", "hidden_size", "x")), "=", "a")
    assert parse_filter("external = true") == Compare(Field("column", "external"), "=", True)
    assert parse_filter("experiment = null") == IsNull(Field("column", "experiment"), False)


@pytest.mark.parametrize("literal, moment", [
    ("'2024-05-01'", datetime(2024, 5, 1, tzinfo=timezone.utc)),
    ("'2024-05-01T14:30:00'", datetime(2024, 5, 1, 14, 30, tzinfo=timezone.utc)),
    ("'2024-05-01T14:30:00Z'", datetime(2024, 5, 1, 14, 30, tzinfo=timezone.utc)),
    ("'2024-05-01 16:30:00+02:00'", datetime(2024, 5, 1, 14, 30, tzinfo=timezone.utc)),
])
def test_created_takes_iso_dates_as_utc(literal, moment):
    node = parse_filter(f"created >= {literal}")
    assert node == Compare(Field("column", "created"), ">=", moment)
    assert node.value.utcoffset() == timedelta(0)


def test_sql_looking_strings_are_plain_data():
    assert parse_filter("name = 'x'' OR 1=1 --'") == Compare(Field("column", "name"), "=", SQLISH)
    assert parse_filter('name = "1; DROP TABLE runs; --"') == Compare(
        Field("column", "name"), "=", "1; DROP TABLE runs; --")


def test_blank_filter_is_no_filter():
    assert parse_filter(None) is None
    assert parse_filter("  \n") is None


def _query_error(parse, *args) -> QueryError:
    """The QueryError ``parse(*args)`` raises."""
    with pytest.raises(QueryError) as caught:
        parse(*args)
    return caught.value


# Every error of the query language, by the request parameter it is in: (parameter, text,
# message, position of the mistake).
QUERY_ERRORS = [
    ("filter", "name = 'abc", "unterminated string", 7),
    ("filter", "status = 'queued')", "unexpected ')'", 17),
    ("filter", "lr < ", "unexpected end of input", 5),
    ("filter", "lr < 1 and", "unexpected end of input", 10),
    ("filter", "(lr < 1", "unexpected end of input", 7),
    ("filter", "lr 1", "unexpected number 1", 3),
    ("filter", "lr @ 1", "unexpected character '@'", 3),
    ("filter", "lr < 1 lr > 2", "unexpected 'lr'", 7),
    ("filter", "= 1", "unexpected '='", 0),
    ("filter", "lr = = 1", "unexpected '='", 5),
    ("filter", "foo = 1", "unknown field 'foo'", 0),
    ("filter", "lr > 0 and metrics = 1", "unknown field 'metrics'", 11),
    ("filter", "name contains 'x'", "contains works only on tags", 5),
    ("filter", "tags = 'x'", "tags supports only contains", 5),
    ("filter", "tags contains 3", "unexpected number 3", 14),
    ("filter", "dataset in ()", "empty in-list", 12),
    ("filter", "dataset in 'a'", "unexpected string 'a'", 11),
    ("filter", "dataset not 'a'", "unexpected string 'a'", 12),
    ("filter", "lr in (1, 'a')", "the values of a list must all be of one type", 10),
    ("filter", "lr in (null)", "null cannot be in a list", 7),
    ("filter", "lr < null", "null compares only with = or !=", 5),
    ("filter", "lr >= true", "true and false compare only with = or !=", 6),
    ("filter", "status = 'done'", "unknown status 'done'", 9),
    ("filter", "status = 1", "status compares with a string, got number 1", 9),
    ("filter", "external = 'yes'", "external compares with a bool, got string 'yes'", 11),
    ("filter", "metrics.acc = 'x'", "metrics.acc compares with a number, got string 'x'", 14),
    ("filter", "created > 3", "created compares with an ISO-8601 date string, got number 3", 10),
    ("filter", "created > 'yesterday'",
     "string 'yesterday' is not an ISO-8601 date or datetime", 10),
    ("filter", "created > '0001-01-01T00:00:00+01:00'",
     "string '0001-01-01T00:00:00+01:00' is not an ISO-8601 date or datetime", 10),
    ("filter", "name = 'a\x00'", "invalid character '\\x00'", 9),
    ("filter", "name = '\ud800'", "invalid character '\\ud800'", 8),
    ("filter", "lr = 1e999", "number 1e999 is out of range", 5),
    ("filter", r"name = 'a\q'", r"unknown escape \q", 9),
    ("filter", "optimizer.lr-x = 1", "invalid config path 'optimizer.lr-x'", 0),
    ("filter", "optimizer..lr = 1", "invalid config path 'optimizer..lr'", 0),
    ("filter", "metrics. = 1", "invalid metric key ''", 0),
    ("order_by", "tags", "cannot sort by tags", 0),
    ("order_by", "lr,", "unexpected end of input", 3),
    ("order_by", "lr sideways", "unexpected 'sideways'", 3),
    ("order_by", "lr, optimizer.lr desc", "optimizer.lr is listed twice", 4),
    ("order_by", "foo desc", "unknown field 'foo'", 0),
    ("order_by", "a.a, a.b, a.c, a.d, a.e, a.f", "at most 5 sort fields", 25),
    ("order_by", "lr = 1", "unexpected '='", 3),
]


def _errors(parameter: str) -> list[tuple[str, str, int]]:
    return [case[1:] for case in QUERY_ERRORS if case[0] == parameter]


@pytest.mark.parametrize("text, message, position", _errors("filter"))
def test_filter_errors_point_at_the_mistake(text, message, position):
    error = _query_error(parse_filter, text)
    assert (error.field, error.message, error.position) == ("filter", message, position)
    assert str(error).startswith(f"filter: {message} at position {position}")


def test_unknown_field_lists_the_fields():
    with pytest.raises(QueryError) as caught:
        RunQuery.parse("foo = 1")
    assert isinstance(caught.value, ValueError)
    assert str(caught.value) == (
        "filter: unknown field 'foo' at position 0; fields are status, created, experiment, "
        "name, id, external, optimizer, lr, dataset, model, schedule, batch_size, epochs, "
        "steps, seed, metrics.<key>, tags, or a config path such as optimizer.lr")
    assert caught.value.detail()["position"] == 0


def test_length_and_depth_are_capped_without_recursion_errors():
    with pytest.raises(QueryError, match=r"filter: too long \(4001 characters; the limit is "
                                         r"4000\) at position 4000"):
        parse_filter("lr = 1 or " * 400 + "x")
    deep = "(" * (MAX_DEPTH + 1) + "lr = 1" + ")" * (MAX_DEPTH + 1)
    with pytest.raises(QueryError, match="nested deeper than 50 levels at position 50"):
        parse_filter(deep)
    with pytest.raises(QueryError, match="nested deeper than 50 levels at position 200"):
        parse_filter("not " * 100 + "lr = 1")
    with pytest.raises(QueryError, match="nested deeper"):
        parse_filter("(" * 3999)
    assert parse_filter("(" * MAX_DEPTH + "lr = 1" + ")" * MAX_DEPTH) == Compare(LR, "=", 1.0)


def test_at_most_ten_metrics_per_filter():
    ten = " and ".join(f"metrics.m{i} > 0" for i in range(10))
    assert len(parse_filter(ten).operands) == 10
    with pytest.raises(QueryError, match="at most 10 different metrics in one filter"):
        parse_filter(ten + " and metrics.m10 > 0")


def test_order_by_parses_fields_and_directions():
    assert parse_order_by("metrics.val_accuracy DESC, created, lr asc") == (
        OrderItem(Field("metric", "val_accuracy"), True),
        OrderItem(Field("column", "created"), False), OrderItem(LR, False))
    assert parse_order_by(None) == parse_order_by(" ") == (
        OrderItem(Field("column", "created"), True),)


@pytest.mark.parametrize("text, message, position", _errors("order_by"))
def test_order_by_errors(text, message, position):
    error = _query_error(RunQuery.parse, None, text)
    assert (error.field, error.message, error.position) == ("order_by", message, position)


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()])
def test_user_values_are_bound_never_inlined(dialect):
    query = RunQuery.parse("name = 'zz1'' --' and optimizer.zz2 < 'zz3' and metrics.zz4 > 1 "
                           "and tags contains 'zz5'", "training.zz6", dialect=dialect.name)
    _, token = query.page([(None, None, "zz7", None, "zz8")] * 2, 1)
    compiled = query.select(select(Run), token).compile(dialect=dialect)
    assert "zz" not in str(compiled)
    params = repr(compiled.params)
    assert all(f"zz{i}" in params for i in range(1, 9)), params


def test_unknown_dialect_is_a_programming_error():
    with pytest.raises(ValueError, match="dialect must be one of"):
        RunQuery.parse("lr < 1", dialect="mysql")


# -- filters on both engines -------------------------------------------------------------------

RUNS = [
    dict(id="r1", name="adam-digits", status="succeeded", created=T0, tags=["ch6", "baseline"],
         config=cfg("adam", 0.001, "digits", clip=1.0),
         metrics={"val_accuracy": 0.95, "train/loss": 0.1}),
    dict(id="r2", name="sgd-digits", status="failed", created=T0 + HOUR, tags=["ch6"],
         config=cfg("sgd", 0.1, "digits", batch_size=64, nesterov=False),
         metrics={"val_accuracy": 0.80}),
    dict(id="r3", name="momentum-wine", created=T0 + 2 * HOUR,
         config=cfg("momentum", 0.01, "wine", batch_size=32, nesterov=True),
         metrics={"val_accuracy": None}),  # NaN
    dict(id="r4", name="adagrad-iris", status="diverged", created=T0 + 3 * HOUR,
         config=cfg("adagrad", 1.0, "iris"), metrics={"val_accuracy": math.inf}),
    dict(id="r5", name="weird", status="queued", created=T0 + 3 * HOUR,
         config={"optimizer": {"name": 3, "lr": "fast"}, "dataset": "digits",
                 "training": {"batch_size": "big", "epochs": True}}),
    dict(id="r6", name="point", status="running", created=T0 + 4 * HOUR, external=True,
         experiment="exp1", config={"model": {"kind": "point"}, "training": {"steps": 100},
                                    "optimizer": {"name": "adam", "lr": 0.05, "clip": None}}),
    dict(id="r7", name=SQLISH, status="cancelled", created=T0 + 5 * HOUR, config={}),
]
ALL = {"r1", "r2", "r3", "r4", "r5", "r6", "r7"}

FILTER_CASES = [
    ("status = 'succeeded'", {"r1", "r3"}),
    ("status in ('failed', 'diverged')", {"r2", "r4"}),
    ("status != 'succeeded'", ALL - {"r1", "r3"}),
    ("status not in ('queued', 'running', 'cancelled')", {"r1", "r2", "r3", "r4"}),
    ("name = 'x'' OR 1=1 --'", {"r7"}),
    ("name > 'r'", {"r2", "r5", "r7"}),
    ("name = 'momentum-wine' or name = 'point'", {"r3", "r6"}),
    ("id = 'r4'", {"r4"}),
    ("id >= 'r6'", {"r6", "r7"}),
    ("created >= '2024-05-01T15:00:00Z'", {"r4", "r5", "r6", "r7"}),
    ("created <= '2024-05-01T14:00:00+02:00'", {"r1"}),
    ("created < '2024-05-02' and created >= '2024-05-01 16:00'", {"r6", "r7"}),
    ("created = '2024-05-01T15:00:00'", {"r4", "r5"}),
    ("experiment = 'exp1'", {"r6"}),
    ("experiment = null", ALL - {"r6"}),
    ("experiment != null", {"r6"}),
    ("experiment != 'exp1'", set()),
    ("external = true", {"r6"}),
    ("external != true", ALL - {"r6"}),
    ("tags contains 'ch6'", {"r1", "r2"}),
    ("tags contains 'baseline' and tags contains 'ch6'", {"r1"}),
    ("not tags contains 'ch6'", ALL - {"r1", "r2"}),
    ("metrics.val_accuracy >= 0.9", {"r1", "r4"}),
    ("metrics.val_accuracy < 0.9", {"r2"}),
    ("metrics.val_accuracy != 0.8", {"r1", "r4"}),
    ("metrics.val_accuracy = null", {"r3", "r5", "r6", "r7"}),
    ("metrics.val_accuracy != null", {"r1", "r2", "r4"}),
    ("metrics.val_accuracy in (0.8, 0.95)", {"r1", "r2"}),
    ("metrics.train/loss < 1 and metrics.val_accuracy > 0.5", {"r1"}),
    ("optimizer = 'adam'", {"r1", "r6"}),
    ("optimizer.name = 3", {"r5"}),
    ("optimizer > 'b'", {"r2", "r3"}),
    ("lr < 0.05", {"r1", "r3"}),
    ("lr <= 0.05", {"r1", "r3", "r6"}),
    ("lr != 0.1", {"r1", "r3", "r4", "r6"}),
    ("lr = 'fast'", {"r5"}),
    ("lr > 'a'", {"r5"}),
    ("not (lr < 0.05)", ALL - {"r1", "r3"}),
    ("lr = null", {"r7"}),
    ("batch_size >= 64", {"r1", "r2", "r4"}),
    ("batch_size = 'big'", {"r5"}),
    ("epochs = true", {"r5"}),
    ("epochs = 20 and seed = 0", {"r1", "r2", "r3", "r4"}),
    ("training.steps > 10", {"r6"}),
    ("dataset in ('digits', 'wine')", {"r1", "r2", "r3"}),
    ("dataset not in ('digits')", {"r3", "r4"}),
    ("dataset.name = null", {"r5", "r6", "r7"}),
    ("optimizer.nesterov = true", {"r3"}),
    ("optimizer.nesterov != true", {"r2"}),
    ("optimizer.nesterov = false or optimizer.nesterov = null", ALL - {"r3"}),
    ("optimizer.clip = null", ALL - {"r1"}),
    ("optimizer.clip != null", {"r1"}),
    ("optimizer.clip.x = 1", set()),
    ("optimizer = 0.001", set()),
    ("model = 'point' or model.hidden = 100", {"r6"}),
    ("optimizer = 'adam' or status = 'failed' and lr > 0.05", {"r1", "r2", "r6"}),
    ("(optimizer = 'adam' or status = 'failed') and lr > 0.05", {"r2"}),
    ("optimizer = 'adam' and lr < 0.01 and metrics.val_accuracy >= 0.9 and "
     "status = 'succeeded' and tags contains 'ch6' and dataset in ('digits', 'wine')", {"r1"}),
]


@pytest.fixture
def session(engine):
    with Session(engine) as session:
        yield session


@pytest.fixture
def project(session):
    return add_runs(session, RUNS)


def test_each_field_kind_filters(session, project):
    for filter_text, expected in FILTER_CASES:
        ids, token = fetch(session, project, filter_text)
        assert (filter_text, set(ids)) == (filter_text, expected)
        assert len(ids) == len(expected) and token is None


def test_only_the_base_selects_runs_are_considered(session, project):
    other = add_runs(session, [dict(id="o1", config=cfg("adam"))])
    assert fetch(session, other, "optimizer = 'adam'")[0] == ["o1"]
    assert set(fetch(session, project, "optimizer = 'adam'")[0]) == {"r1", "r6"}


def test_where_narrows_without_order_or_limit(session, project):
    query = RunQuery.parse("lr < 1 and metrics.val_accuracy != null",
                           dialect=session.bind.dialect.name)
    stmt = query.where(select(Run).where(Run.project_id == project.id))
    count = session.scalar(select(func.count()).select_from(stmt.subquery()))
    assert count == 2


def test_deepest_allowed_nesting_runs_on_the_database(session, project):
    text = "not (" * (MAX_DEPTH // 2) + "lr < 0.05" + ")" * (MAX_DEPTH // 2)
    assert set(fetch(session, project, text)[0]) == ALL - {"r1", "r3"}  # 25 nots


# -- ordering --------------------------------------------------------------------------------

@pytest.mark.parametrize("order_by, expected", [
    ("metrics.val_accuracy desc", ["r4", "r1", "r2", "r3", "r5", "r6", "r7"]),
    ("metrics.val_accuracy", ["r2", "r1", "r4", "r3", "r5", "r6", "r7"]),
    (None, ["r7", "r6", "r4", "r5", "r3", "r2", "r1"]),
    ("created desc, id desc", ["r7", "r6", "r5", "r4", "r3", "r2", "r1"]),
    ("lr", ["r1", "r3", "r6", "r2", "r4", "r5", "r7"]),
    ("lr desc", ["r4", "r2", "r6", "r3", "r1", "r5", "r7"]),
    ("name desc", ["r7", "r5", "r2", "r6", "r3", "r1", "r4"]),
    ("external desc, status", ["r6", "r7", "r4", "r2", "r5", "r1", "r3"]),
    ("optimizer.nesterov desc, experiment", ["r3", "r2", "r6", "r1", "r4", "r5", "r7"]),
])
def test_order_puts_nulls_last_and_breaks_ties_by_id(session, project, order_by, expected):
    assert fetch(session, project, None, order_by)[0] == expected
    assert fetch_all_pages(session, project, None, order_by, 2) == expected


def test_sort_key_values_come_with_each_row(session, project):
    query = RunQuery.parse("lr < 0.05", "metrics.val_accuracy desc, optimizer",
                           dialect=session.bind.dialect.name)
    rows = session.execute(query.select(select(Run).where(Run.project_id == project.id))).all()
    assert [tuple(row[1:]) for row in rows] == [
        (0.95, None, "adam", None, "r1"), (None, None, "momentum", None, "r3")]
    assert [row[0].name for row in rows] == ["adam-digits", "momentum-wine"]


# -- pagination ------------------------------------------------------------------------------

def paging_runs() -> list[dict[str, Any]]:
    """20 runs with ties and missing values in every sort key."""
    runs = []
    for i in range(20):
        metrics = {} if i % 7 == 0 else {"acc": [0.5, 0.7, math.inf, -math.inf, None][i % 5]}
        lr = [0.1, 0.01, "x", None][i % 4] if i % 3 else 0.1
        runs.append(dict(id=f"p{(i * 7) % 20:02d}", name=f"n{i % 6}", metrics=metrics,
                         config=cfg("adam", lr) if lr is not None else {},
                         created=T0 + (i % 4) * HOUR))
    return runs


def python_order(runs, *keys):
    """The runs' ids sorted by (value function, descending) keys, NULLs last, then id."""
    def compare(a, b):
        for value, descending in keys:
            x, y = value(a), value(b)
            if x != y:
                if x is None or y is None:
                    return -1 if y is None else 1
                return (-1 if x < y else 1) * (-1 if descending else 1)
        return -1 if a["id"] < b["id"] else int(a["id"] > b["id"])
    return [run["id"] for run in sorted(runs, key=functools.cmp_to_key(compare))]


def test_pages_of_three_return_every_run_once_in_order(session):
    runs = paging_runs()
    project = add_runs(session, runs)

    def lr_of(kind):
        def get(run):
            lr = run["config"].get("optimizer", {}).get("lr")
            return lr if isinstance(lr, kind) else None
        return get
    expected = python_order(runs, (lambda r: r["metrics"].get("acc"), True),
                            (lr_of(float), False), (lr_of(str), False),
                            (lambda r: r["name"], True))
    order_by = "metrics.acc desc, lr asc, name desc"
    assert fetch(session, project, None, order_by)[0] == expected
    for limit in (1, 3, 7, 20):
        assert fetch_all_pages(session, project, None, order_by, limit) == expected
    created_first = python_order(runs, (lambda r: r["created"], False),
                                 (lambda r: r["metrics"].get("acc"), False))
    assert fetch_all_pages(session, project, None, "created, metrics.acc", 3) == created_first
    filtered = [run["id"] for run in runs if (run["metrics"].get("acc") or 0) > 0.6]
    pages = fetch_all_pages(session, project, "metrics.acc > 0.6", "metrics.acc desc", 3)
    assert sorted(pages) == sorted(filtered) and len(pages) == len(filtered)


def test_default_order_pages_newest_first(session):
    runs = paging_runs()
    project = add_runs(session, runs)
    expected = python_order(runs, (lambda r: r["created"], True))
    assert fetch_all_pages(session, project, None, None, 3) == expected


def test_last_page_has_no_token_and_tokens_are_opaque(session, project):
    ids, token = fetch(session, project, None, None, limit=7)
    assert len(ids) == 7 and token is None
    ids, token = fetch(session, project, None, None, limit=6)
    assert token is not None and set(token) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def tamper(token: str, change) -> str:
    data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    change(data)
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()


@pytest.mark.parametrize("change, message", [
    (lambda d: d["k"].pop(), "malformed token values"),
    (lambda d: d["k"].__setitem__(0, "not a number"), "malformed token values"),
    (lambda d: d["k"].__setitem__(0, float("nan")), "malformed token values"),
    (lambda d: d["k"].__setitem__(0, 10 ** 400), "malformed token values"),
    (lambda d: d["k"].__setitem__(1, 5), "malformed token values"),
    (lambda d: d["k"].__setitem__(-1, None), "malformed token values"),
    (lambda d: d["k"].__setitem__(-1, "r\x00"), "malformed token values"),
    (lambda d: d["k"].__setitem__(1, "yesterday"), "malformed token values"),
    (lambda d: d.__setitem__("q", "0" * 16), "the token belongs to another filter or order_by"),
])
def test_tampered_tokens_are_refused(change, message):
    query = RunQuery.parse(None, "metrics.val_accuracy desc, created")
    row = (None, 0.95, T0, "r1")  # (Run, metric, created, id)
    _, token = query.page([row, row], 1)
    query.select(select(Run), token)  # as issued: fine
    with pytest.raises(QueryError, match=message) as caught:
        query.select(select(Run), tamper(token, change))
    assert caught.value.field == "page_token" and caught.value.position is None


@pytest.mark.parametrize("token", ["%%%", "abc", "e30", "W10", "x" * 5000,
                                   base64.urlsafe_b64encode(b"[" * 3000).decode(),
                                   base64.urlsafe_b64encode(b"\xff\xfe").decode()])
def test_malformed_tokens_are_refused(token):
    with pytest.raises(QueryError) as caught:
        RunQuery.parse().select(select(Run), token)
    assert caught.value.field == "page_token"


def test_a_token_only_fits_its_own_query(session, project):
    _, token = fetch(session, project, "lr < 1", "lr", limit=2)
    assert fetch(session, project, "lr<1", "lr ASC", 2, token)[0] == ["r6", "r2"]
    with pytest.raises(QueryError, match="belongs to another filter or order_by"):
        fetch(session, project, "lr < 1", "lr desc", 2, token)
    with pytest.raises(QueryError, match="belongs to another filter or order_by"):
        fetch(session, project, "lr < 2", "lr", 2, token)


@pytest.mark.parametrize("limit", [0, -1, 2.5, True, None])
def test_limit_must_be_a_positive_integer(limit):
    with pytest.raises(QueryError) as caught:
        RunQuery.parse().select(select(Run), limit=limit)
    assert caught.value.field == "limit"
