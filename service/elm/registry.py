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
