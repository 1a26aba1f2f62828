"""What every API schema shares: storable JSON, names, the non-finite values, errors, pages.

The schemas (pydantic) are kept apart from the ORM models; only routes import them."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints

from optrack.wire import NON_FINITE

MAX_JSON_DEPTH = 32


def storable_text(text: str) -> str:
    """A string both engines can store: no NUL (PostgreSQL text cannot hold it) and valid
    Unicode (no lone surrogates)."""
    if "\x00" in text:
        raise ValueError("strings must not contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("strings must be valid Unicode (no lone surrogates)") from None
    return text


def _storable(value: Any, depth: int = 0) -> Any:
    """JSON both engines can store: finite numbers, no NUL characters, bounded depth."""
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("numbers must be finite (JSON has no NaN or infinity)")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
        raise ValueError("integers must fit in 64 bits")
    if isinstance(value, str):
        storable_text(value)
    if isinstance(value, dict):
        for k, v in value.items():
            _storable(k, depth + 1)
            _storable(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _storable(v, depth + 1)
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(_storable)]
Json = Annotated[Any, AfterValidator(_storable)]
Text = Annotated[str, StringConstraints(max_length=100_000, pattern=r"^[^\x00]*$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200,
                                        pattern=r"^[^\x00-\x1f\x7f]+$")]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=100,
                                       pattern=r"^[^\x00-\x1f\x7f]+$")]
ProjectName = Annotated[str, StringConstraints(min_length=1, max_length=100,
                                               pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
MetricKey = Annotated[str, StringConstraints(min_length=1, max_length=200,
                                             pattern=r"^[A-Za-z0-9_.\-/]+$")]
# JSON has no NaN or infinity: non-finite values travel as these strings, both ways
# (optrack.wire spells them for the service and its clients alike)
NonFinite = Literal[NON_FINITE]  # "NaN", "Infinity", "-Infinity"
Value = float | NonFinite | None


class ErrorInfo(BaseModel):
    code: str
    message: str
    details: list[dict[str, Any]]


class ErrorOut(BaseModel):
    """Every error response: ``{"error": {"code", "message", "details"}}``."""

    error: ErrorInfo


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": meaning} for status, meaning in (
        (401, "no valid credentials"), (403, "missing scope, role or CSRF token"),
        (404, "no such object (or not one you may see)"), (409, "the object's state forbids it"),
        (413, "body or batch too large"), (422, "a value broke a rule (details name it)"),
        (429, "too many attempts"))}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Page(BaseModel):
    next_page_token: str | None = None
