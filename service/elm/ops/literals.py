"""Literals and the simple selectors (Null, Literal, Tuple, Instance-free values)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from service.elm.compiler import Compiler, Evaluator, constant, split_type
from service.elm.datatypes.numbers import Long, check_decimal
from service.elm.errors import ElmLoadError
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
        return check_decimal(Decimal(str(value)))
    if local == "Boolean":
        return str(value).lower() == "true"
    if local == "String":
        return str(value)
    raise ElmLoadError(f"unsupported Literal valueType {value_type!r}")


@operator("Literal")
def compile_literal(node: dict, c: Compiler) -> Evaluator:
    return constant(parse_literal(node.get("valueType"), node.get("value")))


@operator("Null")
def compile_null(node: dict, c: Compiler) -> Evaluator:
    return constant(None)
