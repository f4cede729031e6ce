"""Fallback JSON form of CQL values for the CLI (used when `service.elm.canonical` is absent)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from service.elm.datatypes.clinical import Code, Concept


def to_json(value: Any) -> Any:
    """A JSON-serialisable rendering of a CQL value (lossless for numbers as strings)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, Decimal):
        return float(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, Code):
        return {
            "code": value.code,
            "system": value.system,
            "version": value.version,
            "display": value.display,
        }
    if isinstance(value, Concept):
        return {"codes": [to_json(c) for c in value.codes], "display": value.display}
    return str(value)
