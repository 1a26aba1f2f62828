"""Property tests: random filters and orders, rendered to text, give on the database exactly what
the same predicate and order give in Python over the same 40 runs — on SQLite and PostgreSQL.
Also: no text whatsoever makes the parser fail with anything but a QueryError."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from service.models import STATUS_VALUES, Run
from service.query import QueryError, RunQuery
from tests.service.test_query import add_runs, fetch, fetch_all_pages, python_order

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
MISSING = object()  # an absent config path
STRINGS = ["adam", "sgd", "Adam", "momentum", "é-opt", "Ω", "z", "", "it's", 'say "hi"',
           "back\\slash", "digits", "wine", "128", "true"]
NUMBERS = [0.1, 0.01, 0.001, 1e-4, 1.0, 0.0, -2.5, 32.0, 64.0, 128.0, 0.5, 0.95, 7.0]
TAGS = ["ch6", "baseline", "sweep", "O'Reilly"]
NAMES = ["adam-1", "sgd", "Zeta", "ä", "x' OR 1=1 --", "b\\c", "sgd"]
EXPERIMENTS = [None, "exp1", "exp2"]
ANY_VALUES = [*NUMBERS[:5], *STRINGS[:5], True, False, None, MISSING, {"a": 1}, [1, 2]]


def make_runs(seed: int = 6, count: int = 40) -> list[dict[str, Any]]:
    """Varied runs: every config path is sometimes missing, null or of another type."""
    rng = random.Random(seed)

    def maybe(value, pool=ANY_VALUES, odds=0.25):
        return rng.choice(pool) if rng.random() < odds else value

    runs = []
    for _ in range(count):
        optimizer = {"name": maybe(rng.choice(STRINGS[:6])), "lr": maybe(rng.choice(NUMBERS[:5])),
                     "nesterov": rng.choice([True, False, "yes", MISSING])}
        config = {"optimizer": optimizer, "dataset": rng.choice(
                      [{"name": rng.choice(["digits", "wine", 3])}, "digits", MISSING]),
                  "model": {"kind": maybe("mlp", ["point", "logistic", MISSING])},
                  "training": {"batch_size": maybe(rng.choice([32, 64, 128]), ["128", MISSING]),
                               "seed": rng.choice([0, 1, 2])},
                  "weird": {"value": rng.choice(ANY_VALUES)}}
        metrics = {"val_accuracy": rng.choice([0.5, 0.95, 0.123, None, math.inf, MISSING]),
                   "train/loss": rng.choice([0.1, 2.5, -math.inf, MISSING])}
        runs.append(dict(
            id=f"{rng.getrandbits(64):016x}", name=rng.choice(NAMES),
            status=rng.choice(STATUS_VALUES), external=rng.random() < 0.3,
            created=T0 + timedelta(hours=rng.randrange(6)), experiment=rng.choice(EXPERIMENTS),
            tags=rng.sample(TAGS, rng.randrange(3)), config=_drop_missing(config),
            metrics={k: v for k, v in metrics.items() if v is not MISSING}))
    return runs


def _drop_missing(value):
    if isinstance(value, dict):
        return {k: _drop_missing(v) for k, v in value.items() if v is not MISSING}
    return value


# -- the test's own tree: ("cmp", field, op, value) ("in", field, values, negated)
#    ("null", field, negated) ("tags", tag) ("not", node) ("and" | "or", [nodes]) --------------

CONFIG_FIELDS = {"optimizer": ("optimizer", "name"), "lr": ("optimizer", "lr"),
                 "batch_size": ("training", "batch_size"), "dataset": ("dataset", "name"),
                 "seed": ("training", "seed"), "optimizer.nesterov": ("optimizer", "nesterov"),
                 "weird.value": ("weird", "value"), "model.kind": ("model", "kind"),
                 "dataset.name.x": ("dataset", "name", "x")}
COLUMN_VALUES = {"status": st.sampled_from(STATUS_VALUES), "name": st.sampled_from(NAMES),
                 "external": st.booleans(), "experiment": st.sampled_from(["exp1", "exp2", "x"]),
                 "created": st.builds(lambda h: T0 + timedelta(minutes=30 * h),
                                      st.integers(-1, 12))}
ANY_LITERAL = st.one_of(st.sampled_from(NUMBERS), st.floats(-200, 200, allow_nan=False),
                        st.sampled_from(STRINGS),
                        st.text(st.characters(exclude_characters="\x00"), max_size=4),
                        st.booleans())
FIELDS = st.one_of(
    st.tuples(st.just("config"), st.sampled_from(sorted(CONFIG_FIELDS))),
    st.tuples(st.just("metric"), st.sampled_from(["val_accuracy", "train/loss", "absent"])),
    st.tuples(st.just("column"), st.sampled_from(sorted(COLUMN_VALUES))))
ORDERED_OPS = ["=", "!=", "<", "<=", ">", ">="]


@st.composite
def leaves(draw):
    field = draw(FIELDS)
    kind, name = field
    values = (COLUMN_VALUES[name] if kind == "column" else st.sampled_from(NUMBERS)
              if kind == "metric" else ANY_LITERAL)
    shape = draw(st.sampled_from(["cmp", "cmp", "cmp", "in", "null", "tags"]))
    if shape == "tags":
        return ("tags", draw(st.sampled_from(TAGS)))
    if shape == "null":
        return ("null", field, draw(st.booleans()))
    first = draw(values)
    if shape == "in":
        same_kind = values.filter(lambda v: type(v) is type(first))
        rest = draw(st.lists(same_kind, max_size=2))
        return ("in", field, [first, *rest], draw(st.booleans()))
    ops = ORDERED_OPS[:2] if isinstance(first, bool) else ORDERED_OPS
    return ("cmp", field, draw(st.sampled_from(ops)), first)


FILTERS = st.recursive(leaves(), lambda children: st.one_of(
    st.tuples(st.just("not"), children),
    st.tuples(st.sampled_from(["and", "or"]), st.lists(children, min_size=2, max_size=3))),
    max_leaves=6)


def render(node, style) -> str:
    """The filter as text; ``style`` draws the quoting, escaping and keyword case."""
    kw = (lambda word: word.upper()) if style.draw(st.booleans()) else (lambda word: word)
    tag = node[0]
    if tag in ("and", "or"):
        return f" {kw(tag)} ".join(f"({render(child, style)})" for child in node[1])
    if tag == "not":
        return f"{kw('not')} ({render(node[1], style)})"
    if tag == "tags":
        return f"tags {kw('contains')} {literal(node[1], style)}"
    field = render_field(node[1], style)
    if tag == "null":
        return f"{field} {'!=' if node[2] else '='} {kw('null')}"
    if tag == "in":
        values = ", ".join(literal(v, style) for v in node[2])
        return f"{field} {kw('not in') if node[3] else kw('in')} ({values})"
    return f"{field} {node[2]} {literal(node[3], style)}"


def render_field(field, style) -> str:
    kind, name = field
    if kind == "metric":
        return f"metrics.{name}"
    if kind == "config" and "." not in name and style.draw(st.booleans()):
        return ".".join(CONFIG_FIELDS[name])  # the alias's full path
    return name


def literal(value, style) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        return literal(style.draw(st.sampled_from([
            value.isoformat(), value.isoformat().replace("+00:00", "Z"),
            value.astimezone(timezone(timedelta(hours=-5))).isoformat(),
            value.replace(tzinfo=None).isoformat(sep=" ")])), style)
    quote = style.draw(st.sampled_from(["'", '"']))
    doubled = style.draw(st.booleans())
    body = value.replace("\\", "\\\\").replace(quote, quote * 2 if doubled else "\\" + quote)
    return quote + body + quote


# -- the same semantics in Python --------------------------------------------------------------

def raw(run, field):
    """The run's value of the field: MISSING or None when it has none."""
    kind, name = field
    if kind == "metric":
        return run["metrics"].get(name)
    if kind == "column":
        return {"status": run["status"], "name": run["name"], "external": run["external"],
                "experiment": run["experiment"], "created": run["created"]}[name]
    value = run["config"]
    for key in CONFIG_FIELDS[name]:
        value = value.get(key, MISSING) if isinstance(value, dict) else MISSING
    return value


def typed(value, like):
    """The value if it has the literal's type (numbers compare as floats), else None."""
    if isinstance(like, bool):
        return value if isinstance(value, bool) else None
    if isinstance(like, float):
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        return float(value) if number else None
    return value if isinstance(value, type(like)) else None


COMPARE = {"=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
           "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


def holds(node, run) -> bool:
    tag = node[0]
    if tag == "and":
        return all(holds(child, run) for child in node[1])
    if tag == "or":
        return any(holds(child, run) for child in node[1])
    if tag == "not":
        return not holds(node[1], run)
    if tag == "tags":
        return node[1] in run["tags"]
    value = raw(run, node[1])
    if tag == "null":
        return (value is None or value is MISSING) != node[2]
    like = node[3] if tag == "cmp" else node[2][0]
    value = typed(value, like)
    if value is None:
        return False
    if tag == "in":
        return (value in node[2]) != node[3]
    return COMPARE[node[2]](value, node[3])


# -- ordering ----------------------------------------------------------------------------------

SORT_FIELDS = [("config", "lr"), ("config", "weird.value"), ("config", "optimizer.nesterov"),
               ("config", "batch_size"), ("metric", "val_accuracy"), ("metric", "train/loss"),
               ("column", "status"), ("column", "name"), ("column", "created"),
               ("column", "external"), ("column", "experiment")]
ORDERS = st.lists(st.tuples(st.sampled_from(SORT_FIELDS), st.booleans()), min_size=1,
                  max_size=3, unique_by=lambda item: item[0])


def sort_values(run, field) -> list:
    """The field's sort keys: a config path sorts by its number, then string, then bool."""
    value = raw(run, field)
    if field[0] != "config":
        return [None if value is MISSING else value]
    return [typed(value, like) for like in (0.0, "", True)]


def expected_order(runs, order) -> list[str]:
    keys = [(lambda run, field=field, i=i: sort_values(run, field)[i], descending)
            for field, descending in order for i in range(3 if field[0] == "config" else 1)]
    return python_order(runs, *keys)


def render_order(order) -> str:
    return ", ".join(f"{'metrics.' if f[0] == 'metric' else ''}{f[1]}{' desc' if d else ''}"
                     for f, d in order)


# -- the properties ----------------------------------------------------------------------------

RUNS = make_runs()
FAST = settings(max_examples=100, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def test_filters_agree_with_python(engine):
    with Session(engine) as session:
        project = add_runs(session, RUNS)

        @FAST
        @given(node=FILTERS, style=st.data())
        def check(node, style):
            text = render(node, style)
            ids, token = fetch(session, project, text)
            expected = {run["id"] for run in RUNS if holds(node, run)}
            assert (text, sorted(ids)) == (text, sorted(expected))
            assert token is None and len(ids) == len(set(ids))

        check()


def test_orders_and_pages_agree_with_python(engine):
    with Session(engine) as session:
        project = add_runs(session, RUNS)

        @settings(FAST, max_examples=40)
        @given(order=ORDERS, limit=st.integers(3, 20))
        def check(order, limit):
            text = render_order(order)
            assert fetch_all_pages(session, project, None, text, limit) == expected_order(
                RUNS, order), text

        check()


def test_the_runs_cover_every_case():
    """The fixed runs hold each kind of awkward value, so the properties test something."""
    values = [raw(run, ("config", "weird.value")) for run in RUNS]
    assert {type(v).__name__ for v in values} >= {"float", "str", "bool", "NoneType", "dict",
                                                   "list", "object"}
    assert len({run["created"] for run in RUNS}) < len(RUNS)  # ties in created
    assert any(run["metrics"].get("val_accuracy", 0) is None for run in RUNS)  # NaN


TOKEN_SOUP = st.lists(st.sampled_from([
    "lr", "metrics.acc", "tags", "name", "created", "optimizer.name", "foo", "and", "or",
    "not", "in", "contains", "(", ")", ",", "=", "!=", "<", ">=", "'a'", '"b', "'", "1",
    "-2.5e3", "true", "null", " ", "\\", "desc", "asc", "@", "metrics."]), max_size=30)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=60), TOKEN_SOUP.map("".join), TOKEN_SOUP.map(" ".join)),
       st.one_of(st.none(), st.text(max_size=20), TOKEN_SOUP.map(" ".join)))
def test_any_text_parses_or_raises_query_error(filter_text, order_by_text):
    for dialect, sql_dialect in [("sqlite", sqlite.dialect()),
                                 ("postgresql", postgresql.dialect())]:
        try:
            query = RunQuery.parse(filter_text, order_by_text, dialect=dialect)
        except QueryError as error:
            assert error.field in ("filter", "order_by")
            assert 0 <= error.position <= len(filter_text if error.field == "filter"
                                              else order_by_text)
            continue
        query.select(select(Run)).compile(dialect=sql_dialect)
