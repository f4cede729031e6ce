"""Comparison operators, all through `service.elm.semantics` (three-valued)."""

from __future__ import annotations

import operator as operator_module
from decimal import Decimal
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


_NATIVE = (int, str, Decimal)


def _ordering(test: Any, native: Any, relation: Any) -> Any:
    """`test` maps a CQL comparison result (-1/0/1) to the answer; `native` is the Python
    operator used directly when both operands are Integers, Strings or Decimals; `relation`
    (semantics.less, ...) answers when the three-way comparison is unknown (an uncertainty
    such as `[18, 19] >= 18` can still be decided)."""

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
            tx = type(x)
            if tx is type(y):
                if tx in _NATIVE:
                    return native(x, y)
                method = getattr(tx, "cql_compare", None)
                if method is not None:
                    r = method(x, y)
                    return relation(x, y) if r is None else test(r)
            r = compare(x, y)
            return relation(x, y) if r is None else test(r)

        return cmp

    return compile_fn


operator("Less")(_ordering(lambda r: r < 0, operator_module.lt, semantics.less))
operator("LessOrEqual")(_ordering(lambda r: r <= 0, operator_module.le, semantics.less_or_equal))
operator("Greater")(_ordering(lambda r: r > 0, operator_module.gt, semantics.greater))
operator("GreaterOrEqual")(
    _ordering(lambda r: r >= 0, operator_module.ge, semantics.greater_or_equal)
)
