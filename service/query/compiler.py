"""Syntax tree → SQLAlchemy expressions over ``Run``, identical in meaning on SQLite and
PostgreSQL.

A field has a value of a *kind* (number, string, bool, datetime) or none: a missing config path,
JSON null, a JSON value of another type, no metric row and a NaN metric (stored as NULL) are all
"none". A comparison is true only where the field has a value of the literal's kind, so every
predicate is two-valued (never NULL) and ``not`` is a plain complement.

Config values are read as ``CASE WHEN <JSON type is the kind> THEN <value> …``: PostgreSQL
evaluates a CASE branch only when its condition holds, so it never casts a JSON string to float.
User values, JSON paths and metric keys are always bound parameters.
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass
from typing import Any, Callable

from sqlalchemy import (ARRAY, Boolean, ColumnElement, Float, Select, String, Text, and_, case,
                        cast, exists, false, func, literal, not_, or_)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import aliased

from service.models import LatestMetric, Run, RunTag

from .syntax import (COLUMN_TYPES, And, Compare, Contains, Field, InList, IsNull, Like, Node, Not,
                     Or, OrderItem, kind_of)

DIALECTS = ("sqlite", "postgresql")
COLUMNS = {"status": Run.status, "created": Run.created_at, "experiment": Run.experiment_id,
           "name": Run.name, "id": Run.id, "external": Run.external}
NULLABLE_COLUMNS = {"experiment"}
CONFIG_KINDS = ("number", "string", "bool")  # a config path sorts by each, in this order
ID_FIELD = Field("column", "id")
_OPERATORS = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
              ">": operator.gt, ">=": operator.ge}
Test = Callable[[ColumnElement[Any]], ColumnElement[bool]]


@dataclass(frozen=True)
class SortKey:
    """One ORDER BY expression; NULLs sort last whichever the direction."""

    expr: ColumnElement[Any]
    descending: bool
    kind: str  # number, string, bool or datetime: how the page token stores its value
    nullable: bool  # False for a NOT NULL column, or a value the filter demands


class Compiler:
    """Builds the WHERE clause and sort keys of one statement, joining ``latest_metrics`` once
    per distinct metric key (an aliased LEFT OUTER JOIN, so runs without it stay)."""

    def __init__(self, dialect: str):
        self.dialect = dialect
        self.metrics: dict[str, Any] = {}  # metric key → aliased LatestMetric

    def join_metrics(self, stmt: Select) -> Select:
        """``stmt`` with the outer joins the compiled expressions refer to."""
        for key, metric in self.metrics.items():
            stmt = stmt.outerjoin(metric, and_(metric.run_id == Run.id, metric.key == key))
        return stmt

    def predicate(self, node: Node) -> ColumnElement[bool]:
        """The filter as a never-NULL boolean expression."""
        if isinstance(node, And):
            return and_(*map(self.predicate, node.operands))
        if isinstance(node, Or):
            return or_(*map(self.predicate, node.operands))
        if isinstance(node, Not):
            return not_(self.predicate(node.operand))
        if isinstance(node, Contains):
            return exists().where(RunTag.run_id == Run.id, RunTag.tag == node.tag)
        if isinstance(node, IsNull):
            missing = self._missing(node.field)
            return not_(missing) if node.negated else missing
        if isinstance(node, Like):
            return self._where_kind(node.field, "string", lambda value: like(
                value, node.pattern, node.case_sensitive, self.dialect))
        if isinstance(node, InList):
            values = list(node.values)
            test = self._where_kind(node.field, kind_of(values[0]), lambda value: (
                value.not_in(values) if node.negated else value.in_(values)))
            return test if node.negated else self._indexed(node.field, values, test)
        ordered = node.op not in ("=", "!=")
        test = self._where_kind(node.field, kind_of(node.value), lambda value: _OPERATORS[
            node.op](self._collated(value) if ordered else value, node.value))
        return self._indexed(node.field, [node.value], test) if node.op == "=" else test

    def _indexed(self, field: Field, values: list,
                 test: ColumnElement[bool]) -> ColumnElement[bool]:
        """``test``, a config path's equality to one of ``values``, with a condition it implies
        added on PostgreSQL: ``config @> '{"a": {"b": value}}'``, which the GIN index on
        ``runs.config`` (migration 0011) answers, so that a rare value is found without reading
        every run. The same runs match (``containment`` says when it is implied)."""
        if self.dialect != "postgresql" or field.kind != "config":
            return test
        contained = containment(field.path, values)
        return test if contained is None else and_(contained, test)

    def sort_keys(self, order: tuple[OrderItem, ...], filter: Node | None) -> list[SortKey]:
        """The ORDER BY keys, ending with ``Run.id`` (unless already there) for a total order.
        A key the filter never lets be NULL is not nullable, so its order (plain DESC rather
        than DESC NULLS LAST) can be read off an index: ``latest_metrics (key, value)``."""
        items = list(order)
        if ID_FIELD not in (item.field for item in items):
            items.append(OrderItem(ID_FIELD, False))
        present = _present(filter) if filter is not None else frozenset()
        keys = []
        for item in items:
            nullable = self._nullable(item.field) and item.field not in present
            for kind in _kinds(item.field):
                keys.append(SortKey(self._collated(self._value(item.field, kind)),
                                    item.descending, kind, nullable))
        return keys

    def _value(self, field: Field, kind: str) -> ColumnElement[Any]:
        """The field's value where it has this kind, else NULL."""
        if field.kind == "column":
            return COLUMNS[field.name]
        if field.kind == "metric":
            return self._metric(field.name).value
        json = self._json(field)
        return case((json.has(kind), json.value(kind)))

    def _where_kind(self, field: Field, kind: str, test: Test) -> ColumnElement[bool]:
        """``test(value)`` where the field has a value of ``kind``, false elsewhere. Config
        values test inside one CASE (two JSON look-ups, not four); columns and metrics as
        ``value IS NOT NULL AND test``, which indexes serve."""
        if field.kind == "config":
            json = self._json(field)
            return case((json.has(kind), test(json.value(kind))), else_=false())
        value = self._value(field, kind)
        return and_(value.is_not(None), test(value)) if self._nullable(field) else test(value)

    def _missing(self, field: Field) -> ColumnElement[bool]:
        """``= null``: no value at all (for config paths: absent, or JSON null)."""
        if field.kind == "config":
            return self._json(field).missing()
        if field.kind == "metric" or self._nullable(field):
            return self._value(field, "").is_(None)
        return false()

    def _collated(self, expr: ColumnElement[Any]) -> ColumnElement[Any]:
        """Strings order by code point on both engines (SQLite's BINARY, PostgreSQL's "C"),
        whatever the PostgreSQL database's collation."""
        if self.dialect == "postgresql" and isinstance(expr.type, (String, Text)):
            return expr.collate("C")
        return expr

    def _json(self, field: Field) -> "_SqliteJson | _PostgresJson":
        return (_SqliteJson if self.dialect == "sqlite" else _PostgresJson)(field.path)

    def _metric(self, key: str):
        if key not in self.metrics:
            self.metrics[key] = aliased(LatestMetric, name=f"metric_{len(self.metrics)}")
        return self.metrics[key]

    @staticmethod
    def _nullable(field: Field) -> bool:
        return field.kind != "column" or field.name in NULLABLE_COLUMNS


INTEGER_KEY = re.compile(r"\s*[+-]?\d+\s*")
EXACT_INTEGERS = 2.0 ** 53  # below this, a stored integer compares equal as a float and exactly


def containment(path: tuple[str, ...], values: list) -> ColumnElement[bool] | None:
    """``config @> {"a": {"b": v}}`` for any of ``values``, a condition that ``a.b = v``
    implies on PostgreSQL — or None where it might not: a key that ``#>`` would take as an array
    index (an integer), or a number the float comparison and jsonb's exact numeric one might
    judge differently (stored values are written by Python, so equal doubles have the same
    shortest text; only integers beyond 2^53 could round to a literal they are not)."""
    if any(INTEGER_KEY.fullmatch(key) for key in path):
        return None
    if any(isinstance(v, float) and not (math.isfinite(v) and abs(v) < EXACT_INTEGERS)
           for v in values):
        return None
    shapes = []
    for value in values:
        for key in reversed(path):
            value = {key: value}
        shapes.append(Run.config.op("@>", is_comparison=True)(literal(value, JSONB)))
    return or_(*shapes)


def like(expr: ColumnElement[str], pattern: str, case_sensitive: bool,
         dialect: str) -> ColumnElement[bool]:
    """``expr LIKE pattern`` meaning the same on both engines, with ``\\`` as the escape
    character. SQLite's LIKE ignores ASCII case, so a case-sensitive match there is a GLOB of
    the same pattern; ILIKE folds ASCII case on SQLite, every letter's on PostgreSQL."""
    if not case_sensitive:
        return expr.ilike(pattern, escape="\\")
    if dialect == "sqlite":
        return expr.op("GLOB", is_comparison=True)(literal(_glob(pattern)))
    return expr.like(pattern, escape="\\")


def _glob(pattern: str) -> str:
    """A LIKE pattern as a GLOB pattern: ``%`` → ``*``, ``_`` → ``?``, GLOB's own wildcards
    and escaped characters literal."""
    out, escaped = [], False
    for char in pattern:
        if escaped or char not in "%_\\":
            out.append(f"[{char}]" if char in "*?[" else char)
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            out.append("*" if char == "%" else "?")
    return "".join(out)


def _kinds(field: Field) -> tuple[str, ...]:
    if field.kind == "column":
        return (COLUMN_TYPES[field.name],)
    return ("number",) if field.kind == "metric" else CONFIG_KINDS


def _present(node: Node) -> frozenset[Field]:
    """The metrics and columns that every run passing ``node`` has a value for. (A config path
    is left out: a number comparison says nothing of its string sort key.)"""
    if isinstance(node, And):
        return frozenset().union(*map(_present, node.operands))
    if isinstance(node, Or):
        return frozenset.intersection(*map(_present, node.operands))
    if isinstance(node, (Compare, InList)) or (isinstance(node, IsNull) and node.negated):
        return frozenset({node.field} if node.field.kind != "config" else ())
    return frozenset()


class _SqliteJson:
    """A config path on SQLite: ``json_type`` names the type ('integer', 'real', 'text',
    'true', 'false', 'null', 'object', 'array'; NULL when the path is missing)."""

    TYPES = {"number": ("integer", "real"), "string": ("text",), "bool": ("true", "false")}

    def __init__(self, path: tuple[str, ...]):
        # each key quoted, so keys with '-', ':', '/' or spaces (MLflow params) are looked up
        # as they are; bound, not inlined
        self.path = "$." + ".".join(f'"{key}"' for key in path)

    def _type(self) -> ColumnElement[str]:
        return func.json_type(Run.config, self.path, type_=String)

    def has(self, kind: str) -> ColumnElement[bool]:
        return self._type().in_(self.TYPES[kind])

    def value(self, kind: str) -> ColumnElement[Any]:
        """The value, meaningful only where ``has(kind)``."""
        if kind == "bool":
            return self._type() == "true"
        extracted = func.json_extract(Run.config, self.path, type_=String)
        return cast(extracted, Float) if kind == "number" else extracted

    def missing(self) -> ColumnElement[bool]:
        return or_(self._type().is_(None), self._type() == "null")


class _PostgresJson:
    """A config path on PostgreSQL (jsonb): ``jsonb_typeof`` names the type ('number',
    'string', 'boolean', 'null', 'object', 'array'; NULL when the path is missing)."""

    TYPES = {"number": "number", "string": "string", "bool": "boolean"}

    def __init__(self, path: tuple[str, ...]):
        self.path = list(path)

    def _type(self) -> ColumnElement[str]:
        node = Run.config.op("#>", return_type=JSONB)(literal(self.path, ARRAY(Text)))
        return func.jsonb_typeof(node, type_=String)

    def has(self, kind: str) -> ColumnElement[bool]:
        return self._type() == self.TYPES[kind]

    def value(self, kind: str) -> ColumnElement[Any]:
        """The value, meaningful (and safe to cast) only where ``has(kind)``."""
        text = Run.config.op("#>>", return_type=Text)(literal(self.path, ARRAY(Text)))
        return text if kind == "string" else cast(text, Float if kind == "number" else Boolean)

    def missing(self) -> ColumnElement[bool]:
        return or_(self._type().is_(None), self._type() == "null")
