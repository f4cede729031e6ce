"""Nullological operators: IsNull, IsTrue, IsFalse, Coalesce."""

from __future__ import annotations

from typing import Any

from service.elm.compiler import Compiler, Evaluator
from service.elm.registry import operator


@operator("IsNull")
def compile_is_null(node: dict, c: Compiler) -> Evaluator:
    a = c.compile_operand(node)
    return lambda ctx: a(ctx) is None


@operator("IsTrue")
def compile_is_true(node: dict, c: Compiler) -> Evaluator:
    a = c.compile_operand(node)
    return lambda ctx: a(ctx) is True


@operator("IsFalse")
def compile_is_false(node: dict, c: Compiler) -> Evaluator:
    a = c.compile_operand(node)
    return lambda ctx: a(ctx) is False


@operator("Coalesce")
def compile_coalesce(node: dict, c: Compiler) -> Evaluator:
    """First non-null operand; a single list operand means the first non-null element."""
    ops = c.compile_operands(node)
    operand_nodes = node.get("operand")
    single_list = (
        len(ops) == 1
        and isinstance(operand_nodes, list)
        and str((operand_nodes[0] or {}).get("resultTypeSpecifier", {}).get("type"))
        == "ListTypeSpecifier"
    )

    def coalesce(ctx: Any) -> Any:
        for op in ops:
            v = op(ctx)
            if v is not None:
                if single_list and isinstance(v, list):
                    for item in v:
                        if item is not None:
                            return item
                    return None
                return v
        return None

    return coalesce
