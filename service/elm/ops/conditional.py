"""Conditional operators: If and Case (with and without comparand)."""

from __future__ import annotations

from typing import Any

from service.elm import semantics
from service.elm.compiler import Compiler, Evaluator
from service.elm.registry import operator


@operator("If")
def compile_if(node: dict, c: Compiler) -> Evaluator:
    cond = c.compile(node["condition"])
    then = c.compile(node["then"])
    else_ = c.compile(node["else"])

    def if_(ctx: Any) -> Any:
        return then(ctx) if cond(ctx) is True else else_(ctx)

    return if_


@operator("Case")
def compile_case(node: dict, c: Compiler) -> Evaluator:
    items = [(c.compile(i["when"]), c.compile(i["then"])) for i in node.get("caseItem") or []]
    else_ = c.compile(node["else"]) if node.get("else") is not None else (lambda ctx: None)
    if node.get("comparand") is not None:
        comparand = c.compile(node["comparand"])
        equal = semantics.equal

        def case_comparand(ctx: Any) -> Any:
            v = comparand(ctx)
            for when, then in items:
                if equal(v, when(ctx)) is True:
                    return then(ctx)
            return else_(ctx)

        return case_comparand

    def case(ctx: Any) -> Any:
        for when, then in items:
            if when(ctx) is True:
                return then(ctx)
        return else_(ctx)

    return case
