"""How numbers travel between optrack's processes. JSON has no NaN or infinity, so non-finite
floats are sent as the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``, both ways. The
service and every client (the worker included) import this one module, so the spelling cannot
drift apart."""

from __future__ import annotations

import math
from typing import Any

NAN, POS_INF, NEG_INF = "NaN", "Infinity", "-Infinity"
NON_FINITE = (NAN, POS_INF, NEG_INF)


def encode_value(v: float | None) -> float | str:
    """A float for JSON: NaN (and None, which the database stores for NaN) and ±inf become
    strings."""
    if v is None or math.isnan(v):
        return NAN
    if math.isinf(v):
        return POS_INF if v > 0 else NEG_INF
    return v


def decode_value(v: float | str | None) -> float:
    """The float that ``encode_value`` sent (None reads as NaN)."""
    if v is None or v == NAN:
        return math.nan
    if isinstance(v, str):
        return math.inf if v == POS_INF else -math.inf
    return float(v)


def encode_floats(value: Any) -> Any:
    """``value`` (dicts, lists, numbers) with every float passed through ``encode_value``."""
    if isinstance(value, dict):
        return {k: encode_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [encode_floats(v) for v in value]
    if isinstance(value, float):
        return encode_value(value)
    return value
