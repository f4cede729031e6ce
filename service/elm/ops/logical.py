"""Three-valued logic: And, Or, Xor, Implies, Not (null is 'unknown')."""

from __future__ import annotations

from typing import Any

from service.elm.compiler import Compiler, Evaluator
from service.elm.registry import operator


@operator("And")
def compile_and(node: dict, c: Compiler) -> Evaluator:
    a, b = c.compile_operands(node)

    def and_(ctx: Any) -> bool | None:
        x = a(ctx)
        if x is False:
            return False
        y = b(ctx)
        if y is False:
            return False
        if x is None or y is None:
            return None
        return True

    return and_


@operator("Or")
def compile_or(node: dict, c: Compiler) -> Evaluator:
    a, b = c.compile_operands(node)

    def or_(ctx: Any) -> bool | None:
        x = a(ctx)
        if x is True:
            return True
        y = b(ctx)
        if y is True:
            return True
        if x is None or y is None:
            return None
        return False

    return or_


@operator("Xor")
def compile_xor(node: dict, c: Compiler) -> Evaluator:
    a, b = c.compile_operands(node)

    def xor(ctx: Any) -> bool | None:
        x = a(ctx)
        y = b(ctx)
        if x is None or y is None:
            return None
        return x is not y

    return xor


@operator("Implies")
def compile_implies(node: dict, c: Compiler) -> Evaluator:
    a, b = c.compile_operands(node)

    def implies(ctx: Any) -> bool | None:
        x = a(ctx)
        if x is False:
            return True
        y = b(ctx)
        if y is True:
            return True
        if x is None or y is None:
            return None
        return False

    return implies


@operator("Not")
def compile_not(node: dict, c: Compiler) -> Evaluator:
    a = c.compile_operand(node)

    def not_(ctx: Any) -> bool | None:
        x = a(ctx)
        return None if x is None else not x

    return not_
