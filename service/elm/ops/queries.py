"""Queries: sources (single and multi), let, with/without such that, where, return
(distinct/all), aggregate and sort.

A single-source query whose source is not a list runs over that one value and returns a
single value (CQL "singleton query"). Aliases and lets are bound in `ctx.vars` while a row is
processed and restored afterwards, so nested queries and function calls see the right scope.
"""

from __future__ import annotations

import itertools
from typing import Any

from service.elm.compiler import Compiler, Evaluator, spec_name
from service.elm.datatypes.tuples import Tuple
from service.elm.ops.lists import compile_sort_clause, distinct
from service.elm.registry import operator


def _element_type(node: dict) -> str | None:
    spec = node.get("resultTypeSpecifier") or {}
    if spec.get("type") == "ListTypeSpecifier":
        return spec_name(spec.get("elementType"))
    return None


def _relationship(rel: dict, c: Compiler) -> Any:
    alias = rel["alias"]
    src = c.compile_in_scope(rel["expression"])
    such_that = c.compile_in_scope(rel["suchThat"]) if rel.get("suchThat") is not None else None
    negate = rel.get("type") == "Without"

    def test(ctx: Any) -> bool:
        items = src(ctx)
        if items is None:
            items = []
        elif not isinstance(items, list):
            items = [items]
        vars_ = ctx.vars
        saved = vars_.get(alias)
        found = False
        for x in items:
            vars_[alias] = x
            if such_that is None or such_that(ctx) is True:
                found = True
                break
        vars_[alias] = saved
        return not found if negate else found

    return test


@operator("Query")
def compile_query(node: dict, c: Compiler) -> Evaluator:
    c.not_constant()
    sources = [(s["alias"], c.compile(s["expression"])) for s in node.get("source") or []]
    # everything but the sources runs once per row: scope-invariant parts are memoised
    lets = [
        (lc["identifier"], c.compile_in_scope(lc["expression"])) for lc in node.get("let") or []
    ]
    rels = [_relationship(r, c) for r in node.get("relationship") or []]
    where = c.compile_in_scope(node["where"]) if node.get("where") is not None else None
    ret_node = node.get("return")
    ret = c.compile_in_scope(ret_node["expression"]) if ret_node else None
    ret_distinct = bool(ret_node.get("distinct", True)) if ret_node else False
    agg_node = node.get("aggregate")
    sort_node = node.get("sort")
    sorter = (
        compile_sort_clause(sort_node.get("by") or [], c, _element_type(node))
        if sort_node
        else None
    )
    aliases = [a for a, _ in sources]
    multi = len(sources) > 1

    def keep(ctx: Any) -> bool:
        vars_ = ctx.vars
        for name, expr in lets:
            vars_[name] = expr(ctx)
        for rel in rels:
            if not rel(ctx):
                return False
        return where is None or where(ctx) is True

    if agg_node is not None:
        return _compile_aggregate(node, agg_node, sources, keep, c)

    if not multi:
        (alias, source) = sources[0]

        def single(ctx: Any) -> Any:
            value = source(ctx)
            singleton = not isinstance(value, list)
            if value is None:
                return None
            items = [value] if singleton else value
            vars_ = ctx.vars
            saved = vars_.get(alias)
            out = []
            for x in items:
                vars_[alias] = x
                if keep(ctx):
                    out.append(ret(ctx) if ret is not None else x)
            vars_[alias] = saved
            if singleton:
                return out[0] if out else None
            if ret_distinct:
                out = distinct(out)
            if sorter is not None:
                out = sorter(ctx, out)
            return out

        return single

    def multi_source(ctx: Any) -> Any:
        lists = []
        for _, source in sources:
            v = source(ctx)
            if v is None:
                v = []
            lists.append(v if isinstance(v, list) else [v])
        vars_ = ctx.vars
        saved = [vars_.get(a) for a in aliases]
        out = []
        for row in itertools.product(*lists):
            for a, x in zip(aliases, row, strict=True):
                vars_[a] = x
            if keep(ctx):
                out.append(ret(ctx) if ret is not None else Tuple(zip(aliases, row, strict=True)))
        for a, x in zip(aliases, saved, strict=True):
            vars_[a] = x
        if ret_distinct:
            out = distinct(out)
        if sorter is not None:
            out = sorter(ctx, out)
        return out

    return multi_source


def _compile_aggregate(node: dict, agg: dict, sources: list, keep: Any, c: Compiler) -> Evaluator:
    name = agg["identifier"]
    expr = c.compile_in_scope(agg["expression"])
    starting = c.compile(agg["starting"]) if agg.get("starting") is not None else None
    agg_distinct = bool(agg.get("distinct", False))
    aliases = [a for a, _ in sources]

    def aggregate(ctx: Any) -> Any:
        lists = []
        singleton = len(sources) == 1
        for _, source in sources:
            v = source(ctx)
            if v is None:
                v = []
            if isinstance(v, list):
                singleton = False
            lists.append(v if isinstance(v, list) else [v])
        rows = list(itertools.product(*lists))
        if agg_distinct:
            rows = [tuple(r) for r in distinct([list(r) for r in rows])]
        vars_ = ctx.vars
        saved = [vars_.get(a) for a in [*aliases, name]]
        acc = starting(ctx) if starting is not None else None
        for row in rows:
            for a, x in zip(aliases, row, strict=True):
                vars_[a] = x
            if keep(ctx):
                vars_[name] = acc
                acc = expr(ctx)
        for a, x in zip([*aliases, name], saved, strict=True):
            vars_[a] = x
        _ = singleton
        return acc

    return aggregate
