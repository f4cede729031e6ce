"""Registry of ELM node compilers: one node type, one compile function, one place."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from service.elm.compiler import Compiler

Evaluator = Callable[[Any], Any]
CompileFn = Callable[[dict, "Compiler"], Evaluator]

OPERATORS: dict[str, CompileFn] = {}


def operator(*node_types: str) -> Callable[[CompileFn], CompileFn]:
    """Register a compile function for ELM node types; a duplicate is a programming error."""

    def register(fn: CompileFn) -> CompileFn:
        for name in node_types:
            if name in OPERATORS and OPERATORS[name] is not fn:
                raise RuntimeError(f"ELM node type {name!r} registered twice")
            OPERATORS[name] = fn
        return fn

    return register


def null_propagating(fn: Callable[..., Any], arity: int = 1) -> CompileFn:
    """The compile function of an operator that is null when an operand is null, else
    `fn(*operands)` ("null in, null out"). Arity 1 and 2 get closures without a loop (for 2,
    the second operand is not evaluated when the first is null); any other arity evaluates
    every operand."""

    def compile_fn(node: dict, c: Compiler) -> Evaluator:
        if arity == 1:
            a = c.compile_operand(node)

            def unary(ctx: Any) -> Any:
                x = a(ctx)
                return None if x is None else fn(x)

            return unary
        ops = c.compile_operands(node)
        if arity == 2:
            a, b = ops

            def binary(ctx: Any) -> Any:
                x = a(ctx)
                if x is None:
                    return None
                y = b(ctx)
                return None if y is None else fn(x, y)

            return binary

        def nary(ctx: Any) -> Any:
            args = [op(ctx) for op in ops]
            return None if any(x is None for x in args) else fn(*args)

        return nary

    return compile_fn
