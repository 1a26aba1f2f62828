"""Keyset pagination: a page token holds the sort-key values of the last row served, and the
next page is every row strictly after them in the query's order (NULLs last, mixed directions).
Unlike OFFSET, a page costs the same however deep it is, and rows inserted meanwhile neither
repeat nor vanish from later pages.

The token is urlsafe base64 of JSON ``{"q": fingerprint, "k": [values…]}``. It is opaque, not
secret: a hand-edited token can only move the cursor within what the caller may already see,
so it is validated (shape, value types, fingerprint of the query) rather than signed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from datetime import timezone
from typing import Any

from dataclasses import dataclass
from typing import Sequence

from sqlalchemy import ColumnElement, Select, and_, literal, or_, true

from .compiler import SortKey
from .parser import as_utc, invalid_character
from .syntax import QueryError

MAX_TOKEN_LENGTH = 4096  # characters


@dataclass(frozen=True)
class Keyset:
    """Pages of one ordered query: ``keys`` are its ORDER BY (the last one unique, so the
    order is total), ``query_fingerprint`` ties its tokens to the query that issued them."""

    keys: Sequence[SortKey]
    query_fingerprint: str

    def select(self, stmt: Select, page_token: str | None, limit: int) -> Select:
        """``stmt`` after the token's row, in the keys' order, ``limit + 1`` rows (the extra
        one says whether another page follows)."""
        if page_token:
            stmt = stmt.where(after(self.keys, decode_token(page_token, self.query_fingerprint,
                                                            self.keys)))
        return stmt.order_by(*map(order_by, self.keys)).limit(limit + 1)

    def page(self, rows: Sequence[Any], limit: int, values) -> tuple[list[Any], str | None]:
        """The first ``limit`` of ``rows`` and the next page's token (None on the last page);
        ``values(row)`` gives a row's sort-key values."""
        if len(rows) <= limit:
            return list(rows), None
        token = encode_token(self.query_fingerprint, self.keys, tuple(values(rows[limit - 1])))
        return list(rows[:limit]), token


def order_by(key: SortKey):
    """NULLS LAST only where NULLs can occur: on a NOT NULL column it would stop PostgreSQL from
    reading the order off an index (runs by project and created_at)."""
    ordered = key.expr.desc() if key.descending else key.expr.asc()
    return ordered.nulls_last() if key.nullable else ordered


def fingerprint(*parts: Any) -> str:
    """A short digest of the parsed query, so a token is refused by any other query."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def encode_token(query_fingerprint: str, keys: list[SortKey], values: tuple) -> str:
    """The token for continuing after the row whose sort-key values are ``values``."""
    plain = [_to_json(value, key.kind) for key, value in zip(keys, values)]
    data = json.dumps({"q": query_fingerprint, "k": plain}, separators=(",", ":"))
    return base64.urlsafe_b64encode(data.encode()).decode().rstrip("=")


def decode_token(token: str, query_fingerprint: str, keys: list[SortKey]) -> list[Any]:
    """The sort-key values in ``token``, checked against the query and the keys' kinds."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise QueryError(f"too long (the limit is {MAX_TOKEN_LENGTH} characters)",
                         field="page_token")
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, RecursionError):
        raise QueryError("malformed token; pass back the next_page_token of the previous "
                         "page unchanged", field="page_token") from None
    if not isinstance(data, dict) or data.get("q") != query_fingerprint:
        raise QueryError("the token belongs to another filter or order_by; start again "
                         "without it", field="page_token")
    values = data.get("k")
    if not isinstance(values, list) or len(values) != len(keys) or not all(
            _CHECKS[key.kind](value) or (value is None and key.nullable)
            for key, value in zip(keys, values)):
        raise QueryError("malformed token values", field="page_token")
    return [_from_json(value, key.kind) for key, value in zip(keys, values)]


def after(keys: list[SortKey], values: list[Any]) -> ColumnElement[bool]:
    """Rows strictly after ``values``: for some key k, equal on every key before k and beyond
    on k. Beyond a value means further in the key's direction, or NULL (NULLs sort last);
    nothing is beyond NULL."""
    branches, equal = [], []
    for key, value in zip(keys, values):
        if value is None:
            equal.append(key.expr.is_(None))
            continue
        value = literal(value, key.expr.type)  # SQLAlchemy refuses `< True` unwrapped
        beyond = key.expr < value if key.descending else key.expr > value
        if key.nullable:
            beyond = or_(beyond, key.expr.is_(None))
        branches.append(and_(*equal, beyond))
        equal.append(key.expr == value)
    return and_(_range(keys[0], values[0]), or_(*branches))


def _range(key: SortKey, value: Any) -> ColumnElement[bool]:
    """A redundant bound on the first key (``created_at <= v`` when newest first), which lets
    the database seek an index instead of testing every row against the OR above."""
    if key.nullable or value is None:
        return true()
    bound = literal(value, key.expr.type)
    return key.expr <= bound if key.descending else key.expr >= bound


def _is_number(value: Any) -> bool:
    """A finite or infinite number (metrics may be ±inf), not NaN, not a bool."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return not math.isnan(float(value))
    except OverflowError:
        return False


_CHECKS = {"number": _is_number,
           "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
           "string": lambda v: isinstance(v, str) and invalid_character(v) is None,
           "bool": lambda v: isinstance(v, bool),
           "datetime": lambda v: isinstance(v, str) and as_utc(v) is not None}


def _to_json(value: Any, kind: str) -> Any:
    if value is None or kind != "datetime":
        return value
    if value.tzinfo is None:  # SQLite returns the stored UTC time without its zone
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat()


def _from_json(value: Any, kind: str) -> Any:
    """A checked token value as the sort key's Python value."""
    if value is None or kind in ("string", "bool", "integer"):
        return value
    return float(value) if kind == "number" else as_utc(value)
