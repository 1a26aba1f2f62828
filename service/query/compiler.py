"""Syntax tree → SQLAlchemy expressions over ``Run``, identical in meaning on SQLite and
PostgreSQL.

Every field reads as a *typed value*: an expression that is the value when the run has one of
the wanted type and SQL NULL otherwise (missing config path, other JSON type, JSON null, no
metric row, a NaN metric). A comparison is true only where that value is not NULL, so every
predicate is two-valued (never NULL) and ``not`` is a plain complement. JSON values are
reached through ``CASE WHEN <type check> THEN <cast> END``: PostgreSQL evaluates a CASE branch
only when its condition holds, so it never casts a string to float. User values, JSON paths and
metric keys are always bound parameters.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (ARRAY, Boolean, ColumnElement, Float, Select, String, Text, and_, case,
                        cast, exists, false, func, literal, not_, or_)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import aliased

from service.models import LatestMetric, Run, RunTag

from .parser import (And, Compare, Contains, Field, InList, IsNull, Node, Not, Or, OrderItem,
                     kind_of)

DIALECTS = ("sqlite", "postgresql")
COLUMNS = {"status": Run.status, "created": Run.created_at, "experiment": Run.experiment_id,
           "name": Run.name, "id": Run.id, "external": Run.external}
COLUMN_KINDS = {"status": "string", "created": "datetime", "experiment": "string",
                "name": "string", "id": "string", "external": "bool"}
NULLABLE_COLUMNS = {"experiment"}
CONFIG_KINDS = ("number", "string", "bool")  # a config path sorts by each, in this order
ID_FIELD = Field("column", "id")
_OPERATORS = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
              ">": operator.gt, ">=": operator.ge}


@dataclass(frozen=True)
class SortKey:
    """One ORDER BY expression; NULLs sort last whichever the direction."""

    expr: ColumnElement[Any]
    descending: bool
    kind: str  # number, string, bool or datetime: how the page token stores its value
    nullable: bool


class Compiler:
    """Builds the WHERE clause and sort keys of one statement, joining ``latest_metrics`` once
    per distinct metric key (an aliased LEFT OUTER JOIN, so runs without it stay)."""

    def __init__(self, dialect: str):
        if dialect not in DIALECTS:
            raise ValueError(f"dialect must be one of {DIALECTS}, got {dialect!r}")
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
        if isinstance(node, InList):
            value = self.typed(node.field, kind_of(node.values[0]))
            test = value.not_in(node.values) if node.negated else value.in_(node.values)
            return self._present(node.field, value, test)
        return self._compare(node)

    def sort_keys(self, order: tuple[OrderItem, ...], filter: Node | None) -> list[SortKey]:
        """The ORDER BY keys, ending with ``Run.id`` (unless already there) for a total order.
        A key the filter never lets be NULL is not nullable, so its order (plain DESC rather
        than DESC NULLS LAST) can be read off an index: ``latest_metrics (key, value)``."""
        items = list(order)
        if not any(item.field == ID_FIELD for item in items):
            items.append(OrderItem(ID_FIELD, False))
        present = _present(filter) if filter is not None else frozenset()
        keys = []
        for item in items:
            nullable = self._nullable(item.field) and item.field not in present
            for kind in self._kinds(item.field):
                keys.append(SortKey(self.sortable(self.typed(item.field, kind), kind),
                                    item.descending, kind, nullable))
        return keys

    def typed(self, field: Field, kind: str) -> ColumnElement[Any]:
        """The field's value where it has this kind, else NULL."""
        if field.kind == "column":
            return COLUMNS[field.name]
        if field.kind == "metric":
            return self._metric(field.name).value
        json = self._json(field)
        return {"number": json.number, "string": json.string, "bool": json.boolean}[kind]()

    def sortable(self, expr: ColumnElement[Any], kind: str) -> ColumnElement[Any]:
        """Strings compare by code point on both engines (SQLite's BINARY; PostgreSQL "C"),
        whatever the PostgreSQL database's collation."""
        if kind == "string" and self.dialect == "postgresql":
            return expr.collate("C")
        return expr

    def _compare(self, node: Compare) -> ColumnElement[bool]:
        kind = kind_of(node.value)
        value = self.typed(node.field, kind)
        ordered = node.op not in ("=", "!=")
        test = _OPERATORS[node.op](self.sortable(value, kind) if ordered else value, node.value)
        return self._present(node.field, value, test)

    def _present(self, field: Field, value, test) -> ColumnElement[bool]:
        """``test`` where the value is present; false (not NULL) where it is missing."""
        return and_(value.is_not(None), test) if self._nullable(field) else test

    def _missing(self, field: Field) -> ColumnElement[bool]:
        """``= null``: no value at all (for config paths: absent, or JSON null)."""
        if field.kind == "config":
            return self._json(field).missing()
        if field.kind == "metric":
            return self._metric(field.name).value.is_(None)
        return COLUMNS[field.name].is_(None) if self._nullable(field) else false()

    def _json(self, field: Field):
        return (_SqliteJson if self.dialect == "sqlite" else _PostgresJson)(field.path)

    def _metric(self, key: str):
        if key not in self.metrics:
            self.metrics[key] = aliased(LatestMetric, name=f"metric_{len(self.metrics)}")
        return self.metrics[key]

    @staticmethod
    def _kinds(field: Field) -> tuple[str, ...]:
        if field.kind == "column":
            return (COLUMN_KINDS[field.name],)
        return ("number",) if field.kind == "metric" else CONFIG_KINDS

    @staticmethod
    def _nullable(field: Field) -> bool:
        return field.kind != "column" or field.name in NULLABLE_COLUMNS


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
    """A config path on SQLite: ``json_type`` says the type ('integer', 'real', 'text',
    'true', 'false', 'null', 'object', 'array'; NULL when the path is missing)."""

    def __init__(self, path: tuple[str, ...]):
        self.path = "$." + ".".join(path)  # keys are validated identifiers, and bound

    def _type(self):
        return func.json_type(Run.config, self.path)

    def number(self):
        return case((self._type().in_(("integer", "real")),
                     cast(func.json_extract(Run.config, self.path), Float)))

    def string(self):
        return case((self._type() == "text", func.json_extract(Run.config, self.path,
                                                                type_=String)))

    def boolean(self):
        return case((self._type().in_(("true", "false")), self._type() == "true"))

    def missing(self):
        return or_(self._type().is_(None), self._type() == "null")


class _PostgresJson:
    """A config path on PostgreSQL (jsonb): ``jsonb_typeof`` says the type ('number',
    'string', 'boolean', 'null', 'object', 'array'; NULL when the path is missing)."""

    def __init__(self, path: tuple[str, ...]):
        self.path = list(path)

    def _param(self):
        return literal(self.path, ARRAY(Text))

    def _type(self):
        return func.jsonb_typeof(Run.config.op("#>", return_type=JSONB)(self._param()))

    def _text(self):
        return Run.config.op("#>>", return_type=Text)(self._param())

    def number(self):
        return case((self._type() == "number", cast(self._text(), Float)))

    def string(self):
        return case((self._type() == "string", self._text()))

    def boolean(self):
        return case((self._type() == "boolean", cast(self._text(), Boolean)))

    def missing(self):
        return or_(self._type().is_(None), self._type() == "null")
