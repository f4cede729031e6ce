"""Type operators: conversions (ToX, ConvertsToX, Convert), As (incl. strict), Is, ToList.

Conversions follow CQL 1.5 §22.25: an input that cannot be converted gives null (ConvertsToX
gives false); strict `As` raises. Temporal and Quantity conversions delegate to the parsers of
the temporal/quantity datatypes.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from service.elm.compiler import Compiler, Evaluator
from service.elm.datatypes.clinical import Code, Concept
from service.elm.datatypes.numbers import (
    Long,
    check_decimal,
    check_int,
    check_long,
)
from service.elm.registry import operator

_INT_RE = re.compile(r"[+-]?\d+")
_DEC_RE = re.compile(r"[+-]?\d+(\.\d+)?")


def to_boolean(v: Any) -> bool | None:
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, str):
        s = v.strip().lower()
        if s in ("true", "t", "yes", "y", "1"):
            return True
        if s in ("false", "f", "no", "n", "0"):
            return False
        return None
    if isinstance(v, int):
        return {1: True, 0: False}.get(int(v))
    if isinstance(v, Decimal):
        return True if v == 1 else False if v == 0 else None
    return None


def to_integer(v: Any) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return 1 if v else 0
    if isinstance(v, int):
        return check_int(int(v))
    if isinstance(v, str):
        s = v.strip()
        return check_int(int(s)) if _INT_RE.fullmatch(s) else None
    if isinstance(v, Decimal):
        return check_int(int(v))
    return None


def to_long(v: Any) -> Long | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return Long(1 if v else 0)
    if isinstance(v, int):
        return check_long(int(v))
    if isinstance(v, str):
        s = v.strip()
        return check_long(int(s)) if _INT_RE.fullmatch(s) else None
    if isinstance(v, Decimal):
        return check_long(int(v))
    return None


def to_decimal(v: Any) -> Decimal | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return Decimal("1.0") if v else Decimal("0.0")
    if isinstance(v, Decimal):
        return v
    if isinstance(v, int):
        return check_decimal(Decimal(int(v)))
    if isinstance(v, float):
        return check_decimal(Decimal(repr(v)))
    if isinstance(v, str):
        s = v.strip()
        if not _DEC_RE.fullmatch(s):
            return None
        try:
            return check_decimal(Decimal(s))
        except InvalidOperation:
            return None
    return None


def decimal_string(d: Decimal) -> str:
    """CQL string form of a Decimal (no exponent notation)."""
    return format(d, "f")


def to_string(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(int(v))
    if isinstance(v, Decimal):
        return decimal_string(v)
    if isinstance(v, Code):
        return v.code
    to_str = getattr(v, "cql_string", None)
    if to_str is not None:
        return to_str()
    return str(v)


def to_concept(v: Any) -> Concept | None:
    if v is None:
        return None
    if isinstance(v, Concept):
        return v
    if isinstance(v, Code):
        return Concept([v])
    if isinstance(v, list):
        return Concept([c for c in v if isinstance(c, Code)])
    return None


def _conversion(fn: Any) -> Any:
    def compile_fn(node: dict, c: Compiler) -> Evaluator:
        a = c.compile_operand(node)
        return lambda ctx: fn(a(ctx))

    return compile_fn


def _converts(fn: Any) -> Any:
    def compile_fn(node: dict, c: Compiler) -> Evaluator:
        a = c.compile_operand(node)

        def converts(ctx: Any) -> bool | None:
            v = a(ctx)
            if v is None:
                return None
            return fn(v) is not None

        return converts

    return compile_fn


CONVERSIONS: dict[str, Any] = {
    "Boolean": to_boolean,
    "Integer": to_integer,
    "Long": to_long,
    "Decimal": to_decimal,
    "String": to_string,
    "Concept": to_concept,
}

for _name, _fn in CONVERSIONS.items():
    operator(f"To{_name}")(_conversion(_fn))
    operator(f"ConvertsTo{_name}")(_converts(_fn))
