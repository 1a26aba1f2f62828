"""The runs query language: filter, order and page through a project's runs.

    q = RunQuery.parse(filter_text, order_by_text, dialect=session.bind.dialect.name)
    stmt = q.select(select(Run).where(Run.project_id == project_id), page_token, limit)
    page, next_page_token = q.page(session.execute(stmt).all(), limit)

Filter: ``optimizer = 'adam' and lr < 0.01 and metrics.val_accuracy >= 0.9
and tags contains 'ch6' and dataset in ('digits', 'wine')``. Fields are the run's columns
(status, created, experiment, name, id, external), ``tags`` (with ``contains``),
``metrics.<key>`` (the latest value) and config paths (``optimizer.lr``; aliases such as
``lr``). Order: ``metrics.val_accuracy desc, created`` (default ``created desc``); NULLs sort
last either way and ``id`` breaks ties.

Semantics, the same on SQLite and PostgreSQL:

- a comparison (``= != < <= > >= in``, ``not in``) holds only where the field has a value of
  the literal's type. An absent config path, JSON null, a value of another JSON type (``lr <
  0.01`` skips ``"lr": "fast"``), an object or array, no metric row and a NaN metric satisfy
  none, not even ``!=`` or ``not in``;
- ``= null`` holds where the field has no value at all (absent path or JSON null; no metric
  row or NaN; NULL column); ``!= null`` is its complement;
- ``not`` is the plain complement, so ``not lr < 0.01`` includes runs without an lr;
- numbers compare as double-precision floats, strings by code point, booleans only with
  ``=`` / ``!=``; ``created`` takes an ISO-8601 date or datetime, UTC when it has no zone.

Sorting by a config path sorts its numbers, then its strings, then its booleans, then runs
without any of those; a column or metric sorts its values, then runs without one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from sqlalchemy import Row, Select

from .compiler import DIALECTS, Compiler
from .pagination import Keyset, fingerprint
from .parser import parse_filter, parse_order_by
from .syntax import Node, OrderItem, QueryError

__all__ = ["QueryError", "RunQuery"]


@dataclass(frozen=True)
class RunQuery:
    """A parsed, validated filter and order for one SQL dialect; immutable, so it may be built
    once per request and used for any number of statements."""

    filter: Node | None
    order: tuple[OrderItem, ...]
    dialect: str

    @classmethod
    def parse(cls, filter_text: str | None = None, order_by_text: str | None = None,
              dialect: str = "sqlite") -> "RunQuery":
        """Parse both texts (None or blank: no filter / the default order). ``dialect`` is
        ``"sqlite"`` or ``"postgresql"`` (``engine.dialect.name``). Raises ``QueryError``."""
        if dialect not in DIALECTS:  # the caller's bug, not the client's: no QueryError
            raise ValueError(f"dialect must be one of {DIALECTS}, got {dialect!r}")
        return cls(parse_filter(filter_text), parse_order_by(order_by_text), dialect)

    def where(self, base: Select) -> Select:
        """``base`` (a ``select(Run)…``) narrowed to the matching runs, with no order and no
        limit: for counting, say, or for a query of one's own."""
        compiler = Compiler(self.dialect)
        condition = None if self.filter is None else compiler.predicate(self.filter)
        stmt = compiler.join_metrics(base)
        return stmt if condition is None else stmt.where(condition)

    def select(self, base: Select, page_token: str | None = None, limit: int = 50) -> Select:
        """One page of ``base`` (whose first column must be ``Run``): joins, WHERE, the rows
        after ``page_token``, ORDER BY and LIMIT ``limit + 1`` (the extra row tells ``page``
        whether another page follows). Rows are ``base``'s columns followed by the sort key
        values (labelled ``sort_0``…; a config path gives three: its number, string and bool),
        which ``page`` turns into the next token. Raises ``QueryError`` (field ``page_token``
        or ``limit``)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise QueryError(f"must be a positive integer, got {limit!r}", field="limit")
        compiler = Compiler(self.dialect)
        # the predicate and the sort keys register the metric joins that join_metrics adds
        conditions = [] if self.filter is None else [compiler.predicate(self.filter)]
        keyset = self._keyset(compiler)
        stmt = compiler.join_metrics(base).where(*conditions)
        stmt = stmt.add_columns(*(k.expr.label(f"sort_{i}") for i, k in enumerate(keyset.keys)))
        return keyset.select(stmt, page_token, limit)

    def page(self, rows: Sequence[Row[Any]], limit: int) -> tuple[list[Any], str | None]:
        """The runs (``row[0]`` of each row) of this page, at most ``limit``, and the token
        for the next page: None when this page is the last. ``rows`` are all the rows of the
        ``select`` statement built with the same ``limit``."""
        keyset = self._keyset(Compiler(self.dialect))
        width = len(keyset.keys)
        page, token = keyset.page(rows, limit, lambda row: tuple(row)[-width:])
        return [row[0] for row in page], token

    def _keyset(self, compiler: Compiler) -> Keyset:
        return Keyset(compiler.sort_keys(self.order, self.filter),
                      fingerprint(self.filter, self.order))
