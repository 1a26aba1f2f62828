"""Hyperparameter specifications: type, default, bounds and meaning, and their validation.

One ``Hyper`` describes one hyperparameter of an optimizer or schedule. The catalog publishes
these descriptions; ``Hyper.check`` enforces them. Keeping both in one object is what makes the
catalog the single source of truth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import ConfigError

FLOAT = "float"
INT = "int"
BOOL = "bool"
FLOAT_PAIR = "float_pair"
CHOICE = "choice"  # one of ``choices``
INT_LIST = "int_list"  # a list of integers, each within the bounds
STRING = "string"

NOT_IN_BOOK = object()  # marks a hyperparameter that the book's convention does not have


@dataclass(frozen=True)
class Hyper:
    """One hyperparameter: its type, default, allowed interval and a one-line meaning."""

    name: str
    kind: str
    default: Any
    doc: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # True: the low bound itself is not allowed
    high_open: bool = False
    log_scale: bool = False  # a hint for forms and plots: search this one on a log axis
    choices: tuple = ()
    required: bool = False
    book_default: Any = field(default=NOT_IN_BOOK)

    @property
    def in_book(self) -> bool:
        return self.book_default is not NOT_IN_BOOK

    def rule(self) -> str:
        """The allowed values, as a phrase: ``a finite number in [0, 1)``."""
        if self.kind == BOOL:
            return "must be true or false"
        if self.kind == CHOICE:
            return f"must be one of {', '.join(map(str, self.choices))}"
        if self.kind == STRING:
            return "must be a non-empty string"
        noun = {FLOAT: "a finite number", INT: "an integer", FLOAT_PAIR: "a finite number",
                INT_LIST: "an integer"}[self.kind]
        if self.low is None and self.high is None:
            return f"must be {noun}"
        if self.high is None:
            return f"must be {noun} {'>' if self.low_open else '>='} {_fmt(self.low)}"
        if self.low is None:
            return f"must be {noun} {'<' if self.high_open else '<='} {_fmt(self.high)}"
        left = "(" if self.low_open else "["
        right = ")" if self.high_open else "]"
        return f"must be {noun} in {left}{_fmt(self.low)}, {_fmt(self.high)}{right}"

    def check(self, value: Any, field_name: str | None = None) -> Any:
        """Return ``value`` in canonical form, or raise ConfigError naming the field and rule."""
        name = field_name or self.name
        if self.kind == BOOL:
            if isinstance(value, (bool, np.bool_)):
                return bool(value)
            raise ConfigError(name, f"{self.rule()}, got {value!r}")
        if self.kind == CHOICE:
            if isinstance(value, str) and value in self.choices:
                return value
            raise ConfigError(name, f"{self.rule()}, got {value!r}")
        if self.kind == STRING:
            if isinstance(value, str) and value:
                return value
            raise ConfigError(name, f"{self.rule()}, got {value!r}")
        if self.kind == INT_LIST:
            if isinstance(value, (str, bytes, dict)) or not _is_sequence(value):
                raise ConfigError(name, f"must be a list of integers, got {value!r}")
            return [self._check_number(v, f"{name}[{i}]") for i, v in enumerate(value)]
        if self.kind == FLOAT_PAIR:
            if isinstance(value, (str, bytes)) or not _is_sequence(value) or len(value) != 2:
                raise ConfigError(name, f"must be a pair of numbers, got {value!r}")
            return tuple(self._check_number(v, f"{name}[{i}]") for i, v in enumerate(value))
        return self._check_number(value, name)

    def _check_number(self, value: Any, name: str) -> float | int:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ConfigError(name, f"{self.rule()}, got {value!r}")
        if self.kind in (INT, INT_LIST):
            if isinstance(value, (float, np.floating)) and not float(value).is_integer():
                raise ConfigError(name, f"{self.rule()}, got {value!r}")
            number: float | int = int(value)
        else:
            number = float(value)
            if not math.isfinite(number):
                raise ConfigError(name, f"{self.rule()}, got {value!r}")
        if self.low is not None and (number < self.low or (self.low_open and number == self.low)):
            raise ConfigError(name, f"{self.rule()}, got {value!r}")
        if self.high is not None and (number > self.high or (self.high_open and number == self.high)):
            raise ConfigError(name, f"{self.rule()}, got {value!r}")
        return number

    def describe(self, convention: str | None = None) -> dict[str, Any]:
        """A JSON-ready description for the catalog."""
        default = self.book_default if convention == "book" else self.default
        out: dict[str, Any] = {
            "type": self.kind,
            "default": list(default) if isinstance(default, tuple) else default,
            "doc": self.doc,
            "rule": self.rule(),
        }
        if self.kind == CHOICE:
            out["choices"] = list(self.choices)
        if self.required:
            out["required"] = True
        if self.kind not in (BOOL, CHOICE, STRING):
            out.update(min=self.low, max=self.high, min_exclusive=self.low_open,
                       max_exclusive=self.high_open, log_scale=self.log_scale)
        return out


def validate(specs: dict[str, Hyper], given: dict[str, Any], owner: str,
             convention: str = "torch") -> dict[str, Any]:
    """Fill defaults and check every value of ``given`` against ``specs``.

    Unknown names raise ConfigError listing the allowed ones; ``owner`` names the optimizer or
    schedule in that message.
    """
    allowed = {n: s for n, s in specs.items() if convention != "book" or s.in_book}
    for name in given:
        if name not in allowed:
            extra = ""
            if name in specs:
                extra = f" (not part of the book's {owner}; use convention 'torch')"
            raise ConfigError(name, f"unknown hyperparameter for {owner}{extra}; "
                                    f"allowed: {', '.join(sorted(allowed)) or 'none'}")
    values = {}
    for name, spec in allowed.items():
        default = spec.book_default if convention == "book" else spec.default
        if name not in given and spec.required:
            raise ConfigError(name, f"is required by {owner}")
        values[name] = spec.check(given[name]) if name in given else default
    return values


def _fmt(x: float) -> str:
    return f"{x:g}"


def _is_sequence(value: Any) -> bool:
    try:
        len(value)
        return True
    except TypeError:
        return False

