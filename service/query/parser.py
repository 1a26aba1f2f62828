"""Text → syntax tree for the runs query language; every mistake is a ``QueryError`` that
points at the character where it starts.

    filter   := or
    or       := and ('or' and)*
    and      := not ('and' not)*                      precedence: not > and > or
    not      := 'not' not | '(' or ')' | comparison
    comparison := FIELD ('=' | '!=' | '<' | '<=' | '>' | '>=') literal
                | FIELD ['not'] 'in' '(' literal (',' literal)* ')'
                | 'tags' 'contains' STRING
    literal  := STRING | NUMBER | 'true' | 'false' | 'null'
    order_by := FIELD ['asc' | 'desc'] (',' FIELD ['asc' | 'desc'])*

Keywords are case-insensitive; field names are not. The input length and the nesting depth are
capped, so no input can exhaust the stack. Fields are resolved here (aliases included) and
literals are checked against them, so the compiler never meets a nonsensical comparison.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from typing import NoReturn

from service.models import STATUS_VALUES

from .syntax import (ALIASES, COLUMN_TYPES, And, Compare, Contains, Field, InList, IsNull, Node,
                     Not, Or, OrderItem, QueryError, Token, kind_of, tokenize)


MAX_FILTER_LENGTH = 4000  # characters
MAX_ORDER_BY_LENGTH = 500  # characters
MAX_DEPTH = 50  # nested parentheses and `not`s
MAX_ORDER_FIELDS = 5
MAX_METRICS = 10  # distinct metric keys in one text: each is one join
MAX_PATH_DEPTH = 10  # segments of a config path

DEFAULT_ORDER = (OrderItem(Field("column", "created"), True),)
FIELDS_HINT = ("fields are " + ", ".join([*COLUMN_TYPES, *ALIASES]) + ", metrics.<key>, tags, "
               "or a config path such as optimizer.lr")
_METRIC_KEY = re.compile(r"[A-Za-z0-9_.\-/]{1,200}")
_PATH_SEGMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse_filter(text: str | None) -> Node | None:
    """The filter's tree, or None for no filter (None or blank text)."""
    if text is None or not text.strip():
        return None
    _check_text(text, MAX_FILTER_LENGTH, "filter")
    parser = _Parser(text, "filter")
    node = parser.disjunction(0)
    parser.expect("end")
    return node


def parse_order_by(text: str | None) -> tuple[OrderItem, ...]:
    """The sort fields, or ``DEFAULT_ORDER`` (newest first) for None or blank text."""
    if text is None or not text.strip():
        return DEFAULT_ORDER
    _check_text(text, MAX_ORDER_BY_LENGTH, "order_by")
    parser = _Parser(text, "order_by")
    items: list[OrderItem] = []
    while True:
        token = parser.expect("ident", "a field")
        field = parser.field(token)
        if field.kind == "tags":
            parser.fail(token, "cannot sort by tags")
        if any(item.field == field for item in items):
            parser.fail(token, f"{token.text} is listed twice")
        if len(items) == MAX_ORDER_FIELDS:
            parser.fail(token, f"at most {MAX_ORDER_FIELDS} sort fields")
        descending = parser.accept("kw", "desc") is not None
        if not descending:
            parser.accept("kw", "asc")
        items.append(OrderItem(field, descending))
        if parser.accept(",") is None:
            parser.expect("end")
            return tuple(items)


def _check_text(text: str, limit: int, label: str) -> None:
    """Refuse what no database may see: over-long text, NUL (PostgreSQL text cannot hold it)
    and lone surrogates (not encodable as UTF-8)."""
    if len(text) > limit:
        raise QueryError(f"too long ({len(text)} characters; the limit is {limit})", label,
                         limit)
    bad = invalid_character(text)
    if bad is not None:
        raise QueryError(f"invalid character {text[bad]!r}", label, bad)


def as_utc(text: str) -> datetime | None:
    """The ISO-8601 date or datetime as an aware UTC datetime (no zone means UTC), or None
    when it is not one (or falls outside the years 1-9999 in UTC)."""
    try:
        moment = datetime.fromisoformat(text)
        return moment.replace(tzinfo=moment.tzinfo or timezone.utc).astimezone(timezone.utc)
    except (ValueError, OverflowError):
        return None


def invalid_character(text: str) -> int | None:
    """The offset of the first NUL or lone surrogate in ``text``, if any."""
    return next((i for i, char in enumerate(text)
                 if char == "\0" or "\ud800" <= char <= "\udfff"), None)


class _Parser:
    """Recursive descent over the token list; ``depth`` counts open parentheses and `not`s."""

    def __init__(self, text: str, label: str):
        self.tokens = tokenize(text, label)
        self.i = 0
        self.label = label
        self.metric_keys: set[str] = set()

    def fail(self, token: Token, message: str, hint: str | None = None) -> NoReturn:
        raise QueryError(message, self.label, token.pos, hint)

    def accept(self, kind: str, value: str | None = None) -> Token | None:
        token = self.tokens[self.i]
        if token.kind != kind or (value is not None and token.value != value):
            return None
        self.i += 1
        return token

    def expect(self, kind: str, what: str | None = None, value: str | None = None) -> Token:
        token = self.accept(kind, value)
        if token is None:
            found = self.tokens[self.i]
            self.fail(found, f"unexpected {found.describe()}", what and f"expected {what}")
        return token

    def disjunction(self, depth: int) -> Node:
        items = [self.conjunction(depth)]
        while self.accept("kw", "or"):
            items.append(self.conjunction(depth))
        return items[0] if len(items) == 1 else Or(tuple(items))

    def conjunction(self, depth: int) -> Node:
        items = [self.negation(depth)]
        while self.accept("kw", "and"):
            items.append(self.negation(depth))
        return items[0] if len(items) == 1 else And(tuple(items))

    def negation(self, depth: int) -> Node:
        token = self.tokens[self.i]
        if token.kind in ("(", "kw") and token.value in ("(", "not") and depth >= MAX_DEPTH:
            self.fail(token, f"nested deeper than {MAX_DEPTH} levels")
        if self.accept("kw", "not"):
            return Not(self.negation(depth + 1))
        if self.accept("("):
            node = self.disjunction(depth + 1)
            self.expect(")", "')'")
            return node
        return self.comparison()

    def comparison(self) -> Node:
        field_token = self.expect("ident", "a field, 'not' or '('")
        field = self.field(field_token)
        op = self.tokens[self.i]
        if self.accept("kw", "contains"):
            if field.kind != "tags":
                self.fail(op, "contains works only on tags")
            tag = self.expect("string", "a quoted tag")
            return Contains(tag.value)
        if field.kind == "tags":
            self.fail(op, "tags supports only contains", "as in tags contains 'baseline'")
        negated = self.accept("kw", "not") is not None
        if negated or self.accept("kw", "in"):
            if negated:
                self.expect("kw", "'in'", "in")
            return InList(field, self.in_list(field, field_token), negated)
        if op.kind != "op":
            self.fail(op, f"unexpected {op.describe()}",
                      "expected an operator: = != < <= > >= in, not in, contains")
        self.i += 1
        literal = self.literal()
        if literal.value is None:
            if op.value not in ("=", "!="):
                self.fail(literal, "null compares only with = or !=")
            return IsNull(field, op.value == "!=")
        if isinstance(literal.value, bool) and op.value not in ("=", "!="):
            self.fail(literal, "true and false compare only with = or !=")
        return Compare(field, op.value, self.value_for(field, field_token, literal))

    def in_list(self, field: Field, field_token: Token) -> tuple:
        self.expect("(", "'(' after in")
        if self.tokens[self.i].kind == ")":
            self.fail(self.tokens[self.i], "empty in-list")
        values, kinds = [], set()
        while True:
            literal = self.literal()
            if literal.value is None:
                self.fail(literal, "null cannot be in a list", "use = null")
            values.append(self.value_for(field, field_token, literal))
            kinds.add(kind_of(values[-1]))
            if len(kinds) > 1:
                self.fail(literal, "the values of a list must all be of one type")
            if self.accept(")"):
                return tuple(values)
            self.expect(",", "',' or ')'")

    def literal(self) -> Token:
        token = self.tokens[self.i]
        if token.kind in ("string", "number", "literal"):
            self.i += 1
            return token
        self.fail(token, f"unexpected {token.describe()}", "expected a value")

    def field(self, token: Token) -> Field:
        """Resolve a field name: a column, an alias, tags, metrics.<key> or a config path."""
        name = token.value
        if name in COLUMN_TYPES:
            return Field("column", name)
        if name in ALIASES:
            return Field("config", ".".join(ALIASES[name]), ALIASES[name])
        if name == "tags":
            return Field("tags", name)
        if name.startswith("metrics."):
            key = name[len("metrics."):]
            if not _METRIC_KEY.fullmatch(key):
                self.fail(token, f"invalid metric key {key!r}",
                          "keys are 1-200 characters of A-Z a-z 0-9 _ . - /")
            self.metric_keys.add(key)
            if len(self.metric_keys) > MAX_METRICS:
                self.fail(token, f"at most {MAX_METRICS} different metrics in one {self.label}")
            return Field("metric", key)
        path = tuple(name.split("."))
        if len(path) == 1:
            self.fail(token, f"unknown field {name!r}", FIELDS_HINT)
        if len(path) > MAX_PATH_DEPTH or not all(map(_PATH_SEGMENT.fullmatch, path)):
            self.fail(token, f"invalid config path {name!r}", f"a path is up to "
                      f"{MAX_PATH_DEPTH} dot-separated names of A-Z a-z 0-9 _")
        return Field("config", name, path)

    def value_for(self, field: Field, field_token: Token, literal: Token):
        """The literal's value, checked against the field's type (numbers become floats)."""
        value = literal.value
        got = kind_of(value)
        if got == "number" and not math.isfinite(value):
            self.fail(literal, f"number {literal.text} is out of range")
        wanted = {"column": COLUMN_TYPES.get(field.name), "metric": "number"}.get(field.kind)
        if wanted == "datetime" and got == "string":
            return self.timestamp(literal)
        if wanted is not None and wanted != got:
            wanted_text = "an ISO-8601 date string" if wanted == "datetime" else f"a {wanted}"
            self.fail(literal, f"{field_token.value} compares with {wanted_text}, "
                               f"got {literal.describe()}")
        if field == Field("column", "status") and value not in STATUS_VALUES:
            self.fail(literal, f"unknown status {value!r}",
                      "statuses are " + ", ".join(STATUS_VALUES))
        return value

    def timestamp(self, literal: Token) -> datetime:
        """An ISO-8601 date or datetime; without a zone it is UTC."""
        moment = as_utc(literal.value)
        if moment is None:
            self.fail(literal, f"{literal.describe()} is not an ISO-8601 date or datetime")
        return moment
