"""MLflow's search syntax, read into clauses that search.py translates to optrack's query
language.

    metrics.acc > 0.9 and params.lr = '0.01' and tags."mlflow.user" LIKE 'ann%'
        and attributes.status IN ('FINISHED', 'FAILED')

A filter is comparisons joined by ``AND`` (MLflow has no ``OR``): ``= != < <= > >=``,
``LIKE``, ``ILIKE``, ``IN (…)``, ``NOT IN (…)``, ``IS NULL``, ``IS NOT NULL``. An identifier is
``<entity>.<key>`` — entities ``metric(s)``, ``param(s)``/``parameter(s)``, ``tag(s)``,
``attribute(s)``/``attr``/``run``, ``dataset(s)`` — or a bare attribute name; a key with other
characters is quoted with backticks or double quotes. Strings take single or double quotes
(a doubled quote is a literal one). An order-by item is an identifier and ``ASC`` or ``DESC``.
Errors are QueryErrors naming the text (``filter`` or ``order_by``) and the position."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..query.syntax import QueryError

ENTITIES = {"metric": "metric", "metrics": "metric", "param": "param", "params": "param",
            "parameter": "param", "parameters": "param", "tag": "tag", "tags": "tag",
            "attribute": "attribute", "attributes": "attribute", "attr": "attribute",
            "run": "attribute", "dataset": "dataset", "datasets": "dataset"}
_QUOTED = r"`[^`]*`|\"(?:[^\"]|\"\")*\""
_TOKEN = re.compile(rf"""(?P<space>\s+)
    | (?P<number>-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    | (?P<ident>(?:[A-Za-z_][A-Za-z0-9_]*|`[^`]*`)(?:\.(?:{_QUOTED}|[A-Za-z0-9_.\-/:]+))?)
    | (?P<string>'(?:[^']|'')*'|"(?:[^"]|"")*")
    | (?P<op><=|>=|!=|<>|==|=|<|>)
    | (?P<punct>[(),])""", re.VERBOSE)
_KEYWORDS = {"AND", "OR", "NOT", "IN", "LIKE", "ILIKE", "IS", "NULL", "ASC", "DESC"}


@dataclass(frozen=True)
class Clause:
    entity: str  # metric, param, tag, attribute or dataset
    key: str
    op: str  # = != < <= > >= LIKE ILIKE IN "NOT IN" "IS NULL" "IS NOT NULL"
    value: Any  # float, str, tuple of str (IN lists), None (IS [NOT] NULL)


@dataclass(frozen=True)
class _Token:
    kind: str  # number, ident, string, op, kw, ( ) , or end
    value: Any
    pos: int


def parse_filter(text: str | None) -> list[Clause]:
    """The filter's clauses (none for None or blank text)."""
    if text is None or not text.strip():
        return []
    reader = _Reader(text, "filter")
    clauses = [reader.clause()]
    while reader.take("kw", "AND"):
        clauses.append(reader.clause())
    if reader.peek().kind == "kw" and reader.peek().value == "OR":
        reader.fail("MLflow filters join conditions with AND only")
    reader.expect("end", "AND or the end of the filter")
    return clauses


def parse_order_item(text: str) -> tuple[str, str, bool]:
    """(entity, key, descending) of one order-by item: ``metrics.acc DESC``."""
    reader = _Reader(text, "order_by")
    entity, key = reader.identifier()
    descending = reader.take("kw", "DESC") is not None
    if not descending:
        reader.take("kw", "ASC")
    reader.expect("end", "ASC, DESC or the end of the item")
    return entity, key, descending


class _Reader:
    def __init__(self, text: str, label: str):
        self.text, self.label, self.i = text, label, 0
        self.tokens = _tokenize(text, label)

    def fail(self, message: str, token: _Token | None = None):
        raise QueryError(message, self.label, (token or self.peek()).pos)

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self, kind: str, value: Any = None) -> _Token | None:
        token = self.peek()
        if token.kind == kind and (value is None or token.value == value):
            self.i += 1
            return token
        return None

    def expect(self, kind: str, what: str, value: Any = None) -> _Token:
        token = self.take(kind, value)
        if token is None:
            self.fail(f"expected {what}, got {_describe(self.peek(), self.text)}")
        return token

    def identifier(self) -> tuple[str, str]:
        token = self.take("ident") or self.take("string")
        if token is None or (token.kind == "string" and not token.value[0] == '"'):
            self.fail(f"expected a name such as metrics.acc, got "
                      f"{_describe(self.peek(), self.text)}")
        if token.kind == "string":  # "run name": a quoted attribute
            return "attribute", _unquote(token.value)
        entity, dot, key = token.value.partition(".")
        entity = _unquote(entity)
        if not dot:
            return "attribute", entity
        if entity.lower() not in ENTITIES:
            self.fail(f"unknown entity {entity!r}; use metrics., params., tags. or "
                      f"attributes.", token)
        return ENTITIES[entity.lower()], _unquote(key)

    def clause(self) -> Clause:
        entity, key = self.identifier()
        if self.take("kw", "IS"):
            negated = self.take("kw", "NOT") is not None
            self.expect("kw", "NULL", "NULL")
            return Clause(entity, key, "IS NOT NULL" if negated else "IS NULL", None)
        if self.take("kw", "NOT"):
            self.expect("kw", "IN", "IN")
            return Clause(entity, key, "NOT IN", self.in_list())
        if self.take("kw", "IN"):
            return Clause(entity, key, "IN", self.in_list())
        for word in ("LIKE", "ILIKE"):
            if self.take("kw", word):
                return Clause(entity, key, word, self.string())
        op = self.expect("op", "a comparison (=, !=, <, <=, >, >=, LIKE, IN, IS NULL)")
        return Clause(entity, key, {"==": "=", "<>": "!="}.get(op.value, op.value),
                      self.value())

    def value(self) -> Any:
        token = self.take("number")
        return float(token.value) if token else self.string()

    def string(self) -> str:
        token = self.expect("string", "a quoted string or a number")
        return _unquote(token.value)

    def in_list(self) -> tuple[str, ...]:
        self.expect("(", "(")
        values = [self.string()]
        while self.take(","):
            values.append(self.string())
        self.expect(")", ", or )")
        return tuple(values)


def _tokenize(text: str, label: str) -> list[_Token]:
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise QueryError(f"unexpected character {text[pos]!r}", label, pos)
        kind, word = match.lastgroup, match[0]
        if kind == "ident" and word.upper() in _KEYWORDS:
            tokens.append(_Token("kw", word.upper(), pos))
        elif kind == "punct":
            tokens.append(_Token(word, word, pos))
        elif kind != "space":
            tokens.append(_Token(kind, word, pos))
        pos = match.end()
    return [*tokens, _Token("end", None, len(text))]


def _unquote(text: str) -> str:
    """A name or string without its quotes (a doubled quote inside is one quote)."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "`'\"":
        return text[1:-1].replace(text[0] * 2, text[0])
    return text


def _describe(token: _Token, text: str) -> str:
    return "the end" if token.kind == "end" else repr(text[token.pos:token.pos + 30])
