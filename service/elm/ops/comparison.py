"""Comparison operators, all through `service.elm.semantics` (three-valued)."""

from __future__ import annotations

from typing import Any

from service.elm import semantics
from service.elm.compiler import Compiler, Evaluator
from service.elm.registry import operator


@operator("Equal")
def compile_equal(node: dict, c: Compiler) -> Evaluator:
    a, b = c.compile_operands(node)
    equal = semantics.equal

    def eq(ctx: Any) -> bool | None:
        return equal(a(ctx), b(ctx))

    return eq


@operator("NotEqual")
def compile_not_equal(node: dict, c: Compiler) -> Evaluator:
    a, b = c.compile_operands(node)
    equal = semantics.equal

    def ne(ctx: Any) -> bool | None:
        r = equal(a(ctx), b(ctx))
        return None if r is None else not r

    return ne


@operator("Equivalent")
def compile_equivalent(node: dict, c: Compiler) -> Evaluator:
    a, b = c.compile_operands(node)
    equivalent = semantics.equivalent
    return lambda ctx: equivalent(a(ctx), b(ctx))


def _ordering(test: Any) -> Any:
    def compile_fn(node: dict, c: Compiler) -> Evaluator:
        a, b = c.compile_operands(node)
        compare = semantics.compare

        def cmp(ctx: Any) -> bool | None:
            x = a(ctx)
            if x is None:
                return None
            y = b(ctx)
            if y is None:
                return None
            r = compare(x, y)
            return None if r is None else test(r)

        return cmp

    return compile_fn


operator("Less")(_ordering(lambda r: r < 0))
operator("LessOrEqual")(_ordering(lambda r: r <= 0))
operator("Greater")(_ordering(lambda r: r > 0))
operator("GreaterOrEqual")(_ordering(lambda r: r >= 0))
