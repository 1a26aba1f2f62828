"""MLflow's ``runs/search`` in optrack's query language: each clause of the filter (filters.py)
becomes a node of the language's syntax tree — metrics, params as config paths, the status,
id, name and start time of a run — or, for tags (``key=value`` run tags), an SQL condition;
order-by items become its sort fields; the page is ``runs.page_of``'s, so ordering, NULLs
last, ties broken by id and keyset page tokens are those of ``GET /api/v1/runs``.

A param compares as the string MLflow logged, and also as the number or boolean it spells in
JSON (``params.lr = '0.01'`` finds optrack's own runs, whose ``lr`` is the number 0.01)."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import ColumnElement, exists, func, not_

from .. import runs
from ..errors import InvalidInput
from ..models import Run, RunTag
from ..query import RunQuery
from ..query.compiler import like
from ..query.parser import DEFAULT_ORDER, MAX_METRICS
from ..query.syntax import (And, Compare, Field, InList, IsNull, Like, Node, Not, Or, OrderItem,
                            QueryError)
from .caller import Caller
from .entities import OPTRACK_STATUSES
from .filters import Clause, parse_filter, parse_order_item
from .values import USER_TAG, check_key, param_path

COMPARISONS = ("=", "!=", "<", "<=", ">", ">=")
TIMES = {"start_time", "created", "Created"}  # a run's start, by its creation time
NAMES = {"run_name", "run name", "Run name", "Run Name"}
_ORDER_COLUMNS = {**dict.fromkeys(TIMES, "created"), "run_name": "name", "status": "status",
                  "run_id": "id"}


def search_runs(caller: Caller, experiment_ids: list[str], filter_text: str | None,
                order_by: list[str], limit: int, page_token: str | None
                ) -> tuple[list[Run], str | None]:
    """One page of the caller's runs in those experiments ("0": the Default experiment)
    matching the MLflow filter, in the MLflow order, and the next page's token."""
    dialect = caller.session.get_bind().dialect.name
    nodes: list[Node] = []
    conditions: list[ColumnElement[bool]] = []
    for clause in parse_filter(filter_text):
        found = _translate(clause, dialect)
        (conditions if isinstance(found, ColumnElement) else nodes).append(found)
    order = tuple(map(_order_item, order_by)) or DEFAULT_ORDER
    _check_joins(nodes, order)
    ids = [i for i in map(caller.optrack_id, experiment_ids) if i is not None]
    query = RunQuery(And(tuple(nodes)) if nodes else None, order, dialect)
    return runs.page_of(caller.session, caller.user, query,
                        [Run.experiment_id.in_(ids), *conditions], limit, page_token)


def _translate(clause: Clause, dialect: str) -> Node | ColumnElement[bool]:
    if isinstance(clause.value, float) and not math.isfinite(clause.value):
        raise InvalidInput.field("filter", f"{clause.value} is out of range")
    if clause.entity == "metric":
        _expect(clause, COMPARISONS, float, "metrics compare with a number")
        return Compare(Field("metric", clause.key), clause.op, clause.value)
    if clause.entity == "param":
        return _param(clause)
    if clause.entity == "tag":
        return tag_condition(RunTag.tag, RunTag.run_id == Run.id, clause, dialect)
    if clause.entity == "attribute":
        return _attribute(clause, dialect)
    raise _unsupported(clause, "datasets are not stored by optrack")


def _param(clause: Clause) -> Node:
    field = Field("config", clause.key, param_path("filter", clause.key))
    if clause.op in ("IS NULL", "IS NOT NULL"):
        return IsNull(field, negated=clause.op == "IS NOT NULL")
    _expect(clause, ("=", "!=", "LIKE", "ILIKE"), str, "params compare with a quoted string")
    if clause.op in ("LIKE", "ILIKE"):
        return Like(field, like_pattern(clause.value), case_sensitive=clause.op == "LIKE")
    equal = _param_equals(field, clause.value)
    return equal if clause.op == "=" else And((IsNull(field, negated=True), Not(equal)))


def _param_equals(field: Field, text: str) -> Node:
    """The string, or the JSON number or boolean it spells exactly as params show them."""
    try:
        spelled = json.loads(text)
    except ValueError:
        spelled = None
    if (isinstance(spelled, (bool, int, float)) and math.isfinite(spelled)
            and json.dumps(spelled) == text):
        value = spelled if isinstance(spelled, bool) else float(spelled)
        return Or((Compare(field, "=", text), Compare(field, "=", value)))
    return Compare(field, "=", text)


def _attribute(clause: Clause, dialect: str) -> Node | ColumnElement[bool]:
    key, op, value = clause.key, clause.op, clause.value
    if key == "status":
        _expect(clause, ("=", "!=", "IN", "NOT IN"), (str, tuple), "status compares with "
                "quoted statuses")
        names = value if isinstance(value, tuple) else (value,)
        unknown = [n for n in names if n not in OPTRACK_STATUSES]
        if unknown:
            raise InvalidInput.field("filter", f"unknown status {unknown[0]!r}; statuses are "
                                               + ", ".join(OPTRACK_STATUSES))
        statuses = tuple(s for n in names for s in OPTRACK_STATUSES[n])
        return InList(Field("column", "status"), statuses, negated=op in ("!=", "NOT IN"))
    if key == "run_id":
        _expect(clause, ("=", "!=", "IN", "NOT IN"), (str, tuple), "run_id compares with "
                "quoted ids")
        ids = value if isinstance(value, tuple) else (value,)
        return InList(Field("column", "id"), ids, negated=op in ("!=", "NOT IN"))
    if key in NAMES:
        _expect(clause, ("=", "!=", "LIKE", "ILIKE"), str, "run_name compares with a string")
        field = Field("column", "name")
        if op in ("LIKE", "ILIKE"):
            return Like(field, like_pattern(value), case_sensitive=op == "LIKE")
        return Compare(field, op, value)
    if key in TIMES:
        _expect(clause, COMPARISONS, float, f"{key} compares with milliseconds since 1970")
        return Compare(Field("column", "created"), op, moment(value))
    if key == "user_id":
        return tag_condition(RunTag.tag, RunTag.run_id == Run.id,
                             Clause("tag", USER_TAG, op, value), dialect)
    raise _unsupported(clause, "optrack filters runs by status, run_id, run_name, start_time "
                               "and user_id")


def tag_condition(tag: Any, owner: ColumnElement[bool], clause: Clause,
                  dialect: str) -> ColumnElement[bool]:
    """An MLflow tag clause over ``key=value`` tags: ``tag`` is the tag column of a tag table,
    ``owner`` the condition tying its rows to the row searched."""
    prefix = check_key("filter", clause.key) + "="
    has_key = func.substr(tag, 1, len(prefix)) == prefix
    if clause.op in ("IS NULL", "IS NOT NULL"):
        found = exists().where(owner, has_key)
        return found if clause.op == "IS NOT NULL" else not_(found)
    _expect(clause, ("=", "!=", "LIKE", "ILIKE"), str, "tags compare with a quoted string")
    if clause.op == "=":
        return exists().where(owner, tag == prefix + clause.value)
    if clause.op == "!=":
        return exists().where(owner, has_key, tag != prefix + clause.value)
    value = func.substr(tag, len(prefix) + 1)
    return exists().where(owner, has_key, like(value, like_pattern(clause.value),
                                               clause.op == "LIKE", dialect))


def _order_item(text: str) -> OrderItem:
    entity, key, descending = parse_order_item(text)
    if entity == "metric":
        return OrderItem(Field("metric", key), descending)
    if entity == "param":
        return OrderItem(Field("config", key, param_path("order_by", key)), descending)
    if entity == "attribute" and key in _ORDER_COLUMNS:
        return OrderItem(Field("column", _ORDER_COLUMNS[key]), descending)
    raise InvalidInput.field("order_by", f"cannot sort by {text!r}; optrack sorts by metrics, "
                                         f"params, start_time, run_name, status and run_id")


def _check_joins(nodes: list[Node], order: tuple[OrderItem, ...]) -> None:
    """Each metric is a join: as many as optrack's query language allows."""
    keys = {item.field.name for item in order if item.field.kind == "metric"}
    keys |= {n.field.name for n in nodes if isinstance(n, Compare) and n.field.kind == "metric"}
    if len(keys) > MAX_METRICS:
        raise InvalidInput.field("filter", f"at most {MAX_METRICS} different metrics in the "
                                           f"filter and order_by together")
    fields = [item.field for item in order]
    if len(set(fields)) < len(fields):
        raise InvalidInput.field("order_by", "a field is listed twice")


def _expect(clause: Clause, ops: tuple[str, ...], kind, rule: str) -> None:
    if clause.op not in ops or not isinstance(clause.value, kind):
        raise InvalidInput.field("filter", f"{clause.entity} {clause.key!r}: {rule}, using "
                                           + ", ".join(ops))


def like_pattern(pattern: str) -> str:
    """A LIKE pattern whose backslashes each escape a character (none left dangling)."""
    stripped = pattern.replace("\\\\", "")
    if stripped.endswith("\\"):
        raise QueryError("a LIKE pattern must not end with an escaping backslash", "filter")
    return pattern


def moment(millis: float) -> datetime:
    """A time in MLflow's milliseconds since 1970."""
    try:
        return datetime.fromtimestamp(millis / 1000, timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise InvalidInput.field("filter", f"{millis:g} is not a time in milliseconds since "
                                           f"1970") from None


def _unsupported(clause: Clause, why: str) -> InvalidInput:
    return InvalidInput.field("filter", f"cannot filter by {clause.entity} {clause.key!r}: "
                                        f"{why}")
