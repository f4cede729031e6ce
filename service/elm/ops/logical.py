"""Three-valued logic: And, Or, Xor, Implies, Not (null is 'unknown')."""

from __future__ import annotations

from typing import Any

from service.elm.compiler import Compiler, Evaluator
from service.elm.registry import null_propagating, operator


def _junction(dominant: bool) -> Any:
    """And (dominant false) and Or (dominant true): the dominant value wins even over null;
    the right operand is not evaluated when the left one already decides."""

    def compile_fn(node: dict, c: Compiler) -> Evaluator:
        a, b = c.compile_operands(node)

        def junction(ctx: Any) -> bool | None:
            x = a(ctx)
            if x is dominant:
                return dominant
            y = b(ctx)
            if y is dominant:
                return dominant
            if x is None or y is None:
                return None
            return not dominant

        return junction

    return compile_fn


operator("And")(_junction(False))
operator("Or")(_junction(True))


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


operator("Not")(null_propagating(lambda x: not x))
