"""The runs query language's vocabulary: its error, tokens, syntax-tree nodes, field kinds and
the tokenizer. parser.py builds trees from these; compiler.py turns them into SQL."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

class QueryError(ValueError):
    """A filter, order_by or page_token the client got wrong. ``field`` names which one,
    ``position`` is the 0-based character offset in that text (None for a page token) and
    ``hint`` an optional suggestion; str() tells the whole story in one line."""

    def __init__(self, message: str, field: str = "filter", position: int | None = None,
                 hint: str | None = None):
        self.message, self.position, self.field, self.hint = message, position, field, hint
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.field}: {self.detail()['msg']}"

    def detail(self) -> dict[str, Any]:
        """An error detail for the API's error body: loc, msg and position."""
        where = "" if self.position is None else f" at position {self.position}"
        hint = f"; {self.hint}" if self.hint else ""
        return {"loc": self.field, "msg": f"{self.message}{where}{hint}",
                "position": self.position}


@dataclass(frozen=True)
class Token:
    kind: str  # ident, string, number, literal (true/false/null), kw, op, ( ) , or end
    value: Any  # the name, decoded string, float, True/False/None, lower-case keyword, op
    pos: int
    text: str  # as written

    def describe(self) -> str:
        if self.kind == "end":
            return "end of input"
        text = self.text if len(self.text) <= 40 else self.text[:37] + "..."
        return f"{self.kind} {text}" if self.kind in ("string", "number") else f"'{text}'"


@dataclass(frozen=True)
class Field:
    kind: str  # column, config, metric or tags
    name: str  # the column, the metric key or the dotted config path
    path: tuple[str, ...] = ()  # a config path's keys


@dataclass(frozen=True)
class Compare:
    field: Field
    op: str  # = != < <= > >=
    value: Any  # float, str, bool or (for created) an aware UTC datetime


@dataclass(frozen=True)
class InList:
    field: Field
    values: tuple  # non-empty, all of one kind
    negated: bool


@dataclass(frozen=True)
class IsNull:
    field: Field
    negated: bool  # != null: the value is present


@dataclass(frozen=True)
class Contains:
    tag: str


@dataclass(frozen=True)
class Like:
    """The field is a string matching the SQL LIKE ``pattern`` (``%`` any run of characters,
    ``_`` any one character, ``\\`` makes the next one literal). The query text has no syntax
    for it: the MLflow filter translation (mlflow/search.py) builds it."""

    field: Field
    pattern: str
    case_sensitive: bool = True


@dataclass(frozen=True)
class Not:
    operand: "Node"


@dataclass(frozen=True)
class And:
    operands: tuple["Node", ...]


@dataclass(frozen=True)
class Or:
    operands: tuple["Node", ...]


Node = Compare | InList | IsNull | Like | Contains | Not | And | Or


@dataclass(frozen=True)
class OrderItem:
    field: Field
    descending: bool


def kind_of(value: Any) -> str:
    """The literal kind of a parsed value: number, string, bool or datetime."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "datetime" if isinstance(value, datetime) else "string"


COLUMN_TYPES = {"status": "string", "created": "datetime", "experiment": "string",
                "name": "string", "id": "string", "external": "bool"}
# short names for config paths, in the run config's shape: sections dataset, model, optimizer,
# schedule and training (epochs or steps, batch_size, seed)
ALIASES = {"optimizer": ("optimizer", "name"), "lr": ("optimizer", "lr"),
           "dataset": ("dataset", "name"), "model": ("model", "kind"),
           "schedule": ("schedule", "name"), "batch_size": ("training", "batch_size"),
           "epochs": ("training", "epochs"), "steps": ("training", "steps"),
           "seed": ("training", "seed")}
KEYWORDS = {"and", "or", "not", "in", "contains", "asc", "desc"}
LITERALS = {"true": True, "false": False, "null": None}
ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t"}
_TOKEN = re.compile(r"""(?P<space>\s+)
    | (?P<number>-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    | (?P<ident>[A-Za-z_][A-Za-z0-9_.\-/]*)
    | (?P<op><=|>=|!=|=|<|>)
    | (?P<punct>[(),])
    | (?P<quote>['"])""", re.VERBOSE)


def tokenize(text: str, label: str) -> list[Token]:
    """The tokens of ``text``, ending with an ``end`` token at ``len(text)``."""
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise QueryError(f"unexpected character {text[pos]!r}", label, pos)
        kind, word, end = match.lastgroup, match[0], match.end()
        if kind == "quote":
            value, end = _string(text, pos, label)
            tokens.append(Token("string", value, pos, text[pos:end]))
        elif kind == "number":
            tokens.append(Token("number", float(word), pos, word))
        elif kind == "ident" and word.lower() in KEYWORDS:
            tokens.append(Token("kw", word.lower(), pos, word))
        elif kind == "ident" and word.lower() in LITERALS:
            tokens.append(Token("literal", LITERALS[word.lower()], pos, word))
        elif kind != "space":
            tokens.append(Token({"punct": word}.get(kind, kind), word, pos, word))
        pos = end
    tokens.append(Token("end", None, len(text), ""))
    return tokens


def _string(text: str, start: int, label: str) -> tuple[str, int]:
    """Decode the string literal opening at ``start``: backslash escapes (\\\\ \\' \\" \\n
    \\t) or a doubled quote. Returns the value and the offset just past the closing quote."""
    quote, out, i = text[start], [], start + 1
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            if text[i + 1] not in ESCAPES:
                raise QueryError(f"unknown escape \\{text[i + 1]}", label, i)
            out.append(ESCAPES[text[i + 1]])
            i += 2
        elif char == quote and text[i + 1:i + 2] == quote:
            out.append(quote)
            i += 2
        elif char == quote:
            return "".join(out), i + 1
        else:
            out.append(char)
            i += 1
    raise QueryError("unterminated string", label, start)
