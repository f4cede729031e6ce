"""Literals and the simple selectors (Null, Literal, Tuple, Instance-free values)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from service.elm.compiler import Compiler, Evaluator, constant, split_type
from service.elm.datatypes.numbers import (
    DECIMAL_MAX,
    DECIMAL_MIN,
    INT_MAX,
    INT_MIN,
    LONG_MAX,
    LONG_MIN,
    Long,
    check_decimal,
)
from service.elm.datatypes.quantity import Quantity, Ratio
from service.elm.errors import CqlError, ElmLoadError
from service.elm.registry import operator


def parse_literal(value_type: str | None, value: Any) -> Any:
    """The Python value of an ELM `Literal` (valueType is a System type name)."""
    _, local = split_type(value_type)
    if value is None:
        return None
    if local == "Integer":
        return int(value)
    if local == "Long":
        return Long(int(str(value).rstrip("Ll")))
    if local == "Decimal":
        return Decimal(str(value))
    if local == "Boolean":
        return str(value).lower() == "true"
    if local == "String":
        return str(value)
    raise ElmLoadError(f"unsupported Literal valueType {value_type!r}")


def literal_value(node: dict, negate: bool = False) -> Any:
    """The value of a Literal node (negated for `-literal`), or a CqlError describing why the
    literal is not a valid CQL value (out of range, too many decimal places)."""
    _, local = split_type(node.get("valueType"))
    raw = node.get("value")
    if raw is not None and negate:
        raw = raw[1:] if str(raw).startswith("-") else "-" + str(raw).lstrip("+")
    value = parse_literal(node.get("valueType"), raw)
    if local == "Integer" and value is not None and not INT_MIN <= value <= INT_MAX:
        return CqlError(f"Integer literal {raw} is out of range")
    if local == "Long" and value is not None and not LONG_MIN <= value <= LONG_MAX:
        return CqlError(f"Long literal {raw} is out of range")
    if local == "Decimal" and raw is not None:
        d = Decimal(str(raw))
        exp = d.as_tuple().exponent
        if (isinstance(exp, int) and exp < -8) or not DECIMAL_MIN <= d <= DECIMAL_MAX:
            return CqlError(f"Decimal literal {raw} is out of range or too precise")
    return value


def literal_evaluator(value: Any) -> Evaluator:
    if isinstance(value, CqlError):
        err = value

        def invalid(ctx: Any) -> Any:
            raise err

        return invalid
    return constant(value)


@operator("Literal")
def compile_literal(node: dict, c: Compiler) -> Evaluator:
    return literal_evaluator(literal_value(node))


@operator("Null")
def compile_null(node: dict, c: Compiler) -> Evaluator:
    return constant(None)


@operator("Quantity")
def compile_quantity(node: dict, c: Compiler) -> Evaluator:
    value = node.get("value")
    if value is None:
        return constant(None)
    v = check_decimal(Decimal(str(value)))
    if v is None:
        raise ElmLoadError(f"Quantity literal {value!r} is out of the Decimal range")
    return constant(Quantity(v, node.get("unit") or "1"))


@operator("Ratio")
def compile_ratio(node: dict, c: Compiler) -> Evaluator:
    n = c.compile({"type": "Quantity", **node["numerator"]})
    d = c.compile({"type": "Quantity", **node["denominator"]})
    return lambda ctx: Ratio(n(ctx), d(ctx))
