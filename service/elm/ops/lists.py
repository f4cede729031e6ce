"""List operators.

The set operators shared with intervals (`Union`, `Intersect`, `Except`, `Includes`,
`IncludedIn`, `Contains`, `In`, proper variants) are registered once in `intervals.py`, which
calls the `list_*` functions below for list operands. Membership and de-duplication use CQL
equality from `service.elm.semantics`, with two nulls counting as the same element.
"""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any

from service.elm import semantics
from service.elm.compiler import Compiler, Evaluator, result_type
from service.elm.datamodel import MODEL
from service.elm.datatypes.tuples import Tuple
from service.elm.errors import CqlError
from service.elm.ops.structured import get_property, property_getter
from service.elm.registry import null_propagating, operator

_equal = semantics.equal


def _hash_key(x: Any) -> Any:
    """A hashable identity for simple values (None when equality needs the slow path)."""
    t = type(x)
    if t is str or t is bool or t is int:
        return (t, x)
    if t is Decimal:
        return (int, x) if x == x.to_integral_value() else (Decimal, x.normalize())
    if x is None:
        return (None, None)
    return None


def same_element(a: Any, b: Any) -> bool:
    """Element identity for list operations: CQL equality, with null matching null."""
    if a is b:
        return True
    if a is None or b is None:
        return False
    return _equal(a, b) is True


def _resource_key(x: Any) -> tuple[str, str] | None:
    """(resourceType, id) of a FHIR resource dict whose both are strings, else None.

    Two dicts are CQL-equal only with the same keys and equal values, so resources with a
    different type or id are never equal: comparing only within one (type, id) bucket keeps
    `distinct` (and so `union`) linear on a long record instead of quadratic."""
    if type(x) is dict:
        rt, rid = x.get("resourceType"), x.get("id")
        if type(rt) is str and type(rid) is str:
            return rt, rid
    return None


def distinct(items: list) -> list:
    """Remove duplicates (first occurrence kept) using CQL equality; nulls collapse to one."""
    seen: set = set()
    out: list = []
    slow: list = []
    buckets: dict[tuple[str, str], list] = {}
    for x in items:
        k = _hash_key(x)
        if k is not None:
            if k in seen:
                continue
            seen.add(k)
            out.append(x)
            continue
        rk = _resource_key(x)
        candidates = slow if rk is None else buckets.setdefault(rk, [])
        if any(same_element(x, y) for y in candidates):
            continue
        candidates.append(x)
        out.append(x)
    return out


def list_contains(lst: list | None, x: Any) -> bool | None:
    """`lst contains x` (and `x in lst`): null list -> false; null element matches null."""
    if lst is None:
        return False
    k = _hash_key(x)
    if k is not None and x is not None:
        for y in lst:
            if type(y) is type(x) and y == x:
                return True
    return any(same_element(x, y) for y in lst)


def list_in(x: Any, lst: list | None) -> bool | None:
    return list_contains(lst, x)


def list_includes(a: list | None, b: list | None) -> bool | None:
    """Every element of `b` is in `a`."""
    if a is None or b is None:
        return None
    return all(list_contains(a, y) for y in b)


def list_included_in(a: list | None, b: list | None) -> bool | None:
    return list_includes(b, a)


def list_proper_includes(a: list | None, b: list | None) -> bool | None:
    """`a` includes `b` and has at least one element `b` does not."""
    if a is None or b is None:
        return None
    return list_includes(a, b) is True and len(distinct(a)) > len(distinct(b))


def list_proper_included_in(a: list | None, b: list | None) -> bool | None:
    return list_proper_includes(b, a)


def list_union(a: list | None, b: list | None) -> list | None:
    """Distinct elements of both lists (a null list counts as empty)."""
    if a is None and b is None:
        return None
    return distinct((a or []) + (b or []))


def list_intersect(a: list | None, b: list | None) -> list | None:
    if a is None or b is None:
        return None
    return distinct([x for x in a if list_contains(b, x)])


def list_except(a: list | None, b: list | None) -> list | None:
    if a is None:
        return None
    if b is None:
        return distinct(a)
    return distinct([x for x in a if not list_contains(b, x)])


# -- selectors and basic operators --------------------------------------------------------


@operator("List")
def compile_list(node: dict, c: Compiler) -> Evaluator:
    elements = [c.compile(e) for e in node.get("element") or []]
    if not elements:
        return lambda ctx: []
    return lambda ctx: [e(ctx) for e in elements]


@operator("Exists")
def compile_exists(node: dict, c: Compiler) -> Evaluator:
    a = c.compile_operand(node)

    def exists(ctx: Any) -> bool:
        v = a(ctx)
        if not v:
            return False
        return any(x is not None for x in v)

    return exists


@operator("SingletonFrom")
def compile_singleton_from(node: dict, c: Compiler) -> Evaluator:
    a = c.compile_operand(node)

    def singleton(ctx: Any) -> Any:
        v = a(ctx)
        if not v:
            return None
        if len(v) > 1:
            raise CqlError("SingletonFrom: the list has more than one element")
        return v[0]

    return singleton


def _source(node: dict, c: Compiler) -> Evaluator:
    return c.compile(node["source"]) if "source" in node else c.compile_operand(node)


@operator("First")
def compile_first(node: dict, c: Compiler) -> Evaluator:
    src = _source(node, c)

    def first(ctx: Any) -> Any:
        v = src(ctx)
        return v[0] if v else None

    return first


@operator("Last")
def compile_last(node: dict, c: Compiler) -> Evaluator:
    src = _source(node, c)

    def last(ctx: Any) -> Any:
        v = src(ctx)
        return v[-1] if v else None

    return last


@operator("Slice")
def compile_slice(node: dict, c: Compiler) -> Evaluator:
    src = c.compile(node["source"])
    start = c.compile(node["startIndex"]) if node.get("startIndex") is not None else None
    end = c.compile(node["endIndex"]) if node.get("endIndex") is not None else None

    def slice_(ctx: Any) -> Any:
        v = src(ctx)
        if v is None:
            return None
        s = start(ctx) if start is not None else None
        e = end(ctx) if end is not None else None
        s = 0 if s is None else s
        if e is None:
            return v[s:] if s >= 0 else []
        if s < 0 or e < s:
            return []
        return v[s:e]

    return slice_


@operator("IndexOf")
def compile_index_of(node: dict, c: Compiler) -> Evaluator:
    src = c.compile(node["source"])
    elem = c.compile(node["element"])

    def index_of(ctx: Any) -> int | None:
        v = src(ctx)
        x = elem(ctx)
        if v is None or x is None:
            return None
        for i, y in enumerate(v):
            if _equal(x, y) is True:
                return i
        return -1

    return index_of


@operator("Flatten")
def compile_flatten(node: dict, c: Compiler) -> Evaluator:
    a = c.compile_operand(node)

    def flatten(ctx: Any) -> list | None:
        v = a(ctx)
        if v is None:
            return None
        out: list = []
        for x in v:
            if isinstance(x, list):
                out.extend(x)
            else:
                out.append(x)
        return out

    return flatten


operator("Distinct")(null_propagating(distinct))


def compare_for_sort(a: Any, b: Any) -> int:
    """Total order for sorting: nulls first, then CQL ordering (uncertain counts as equal)."""
    if a is None:
        return 0 if b is None else -1
    if b is None:
        return 1
    r = semantics.compare(a, b)
    if r is not None:
        return r
    # uncertain (different precisions): order by earliest possible value, less precise first
    lo_a = getattr(a, "low_boundary", None)
    lo_b = getattr(b, "low_boundary", None)
    if lo_a is not None and lo_b is not None:
        r = semantics.compare(lo_a(), lo_b())
        if r:
            return r
        return (a.precision > b.precision) - (a.precision < b.precision)
    return 0


def sort_key(fn: Any = None) -> Any:
    if fn is None:
        return functools.cmp_to_key(compare_for_sort)
    return functools.cmp_to_key(lambda a, b: compare_for_sort(fn(a), fn(b)))


@operator("Sort")
def compile_sort(node: dict, c: Compiler) -> Evaluator:
    src = c.compile(node["source"])
    sorter = compile_sort_clause(node.get("by") or [], c)

    def sort(ctx: Any) -> list | None:
        v = src(ctx)
        if v is None:
            return None
        return sorter(ctx, list(v))

    return sort


def compile_sort_clause(by: list[dict], c: Compiler, element_type: str | None = None) -> Any:
    """A function (ctx, items) -> sorted items for a list of ByDirection/ByExpression/ByColumn
    items (applied as a stable multi-key sort, last key first). `element_type` is the static
    type of the items (for ByDirection on FHIR primitives)."""
    keys: list[tuple[str, Any, Any, bool]] = []
    for item in by:
        desc = str(item.get("direction", "asc")).lower().startswith("desc")
        t = item.get("type")
        conv = MODEL.sort_value_converter(result_type(item))
        if t == "ByExpression":
            keys.append(("expr", c.compile_in_scope(item["expression"]), conv, desc))
        elif t == "ByColumn":
            path = item["path"]
            getter = (
                property_getter(path)
                if "." in path
                else (lambda x, name=path: get_property(x, name))
            )
            keys.append(("col", getter, conv, desc))
        else:
            keys.append(("self", None, MODEL.sort_value_converter(element_type), desc))

    def sorter(ctx: Any, items: list) -> list:
        cmp_key = sort_key()
        for kind, fn, conv, desc in reversed(keys):
            if kind == "expr":
                vars_ = ctx.vars
                saved = vars_.get("$this")
                values = []
                for x in items:
                    vars_["$this"] = x
                    values.append(fn(ctx))
                vars_["$this"] = saved
            elif kind == "col":
                values = [fn(x) for x in items]
            else:
                values = list(items)
            if conv is not None:
                values = [conv(v, ctx) for v in values]
            order = sorted(range(len(items)), key=lambda i: cmp_key(values[i]), reverse=desc)
            items = [items[i] for i in order]
        return items

    return sorter


def _scoped(node: dict, c: Compiler, key: str) -> tuple[Evaluator, Evaluator, str]:
    src = c.compile(node["source"])
    body = c.compile_in_scope(node[key])
    return src, body, node.get("scope") or "$this"


def _map_filter(key: str, keep_item: bool) -> Any:
    """Filter (keep items whose condition is true) and ForEach (collect non-null results)."""

    def compile_fn(node: dict, c: Compiler) -> Evaluator:
        src, body, scope = _scoped(node, c, key)

        def run(ctx: Any) -> list | None:
            v = src(ctx)
            if v is None:
                return None
            vars_ = ctx.vars
            saved = vars_.get(scope)
            out = []
            for x in v:
                vars_[scope] = x
                r = body(ctx)
                if keep_item:
                    if r is True:
                        out.append(x)
                elif r is not None:
                    out.append(r)
            vars_[scope] = saved
            return out

        return run

    return compile_fn


operator("Filter")(_map_filter("condition", keep_item=True))
operator("ForEach")(_map_filter("element", keep_item=False))


@operator("Repeat")
def compile_repeat(node: dict, c: Compiler) -> Evaluator:
    src, elem, scope = _scoped(node, c, "element")

    def repeat(ctx: Any) -> list | None:
        v = src(ctx)
        if v is None:
            return None
        vars_ = ctx.vars
        saved = vars_.get(scope)
        out = distinct(list(v))
        frontier = list(out)
        while frontier:
            nxt = []
            for x in frontier:
                vars_[scope] = x
                r = elem(ctx)
                for y in r if isinstance(r, list) else [r]:
                    if y is not None and not list_contains(out, y):
                        out.append(y)
                        nxt.append(y)
            frontier = nxt
        vars_[scope] = saved
        return out

    return repeat


@operator("Current")
def compile_current(node: dict, c: Compiler) -> Evaluator:
    scope = node.get("scope") or "$this"
    c.uses_scope()
    return lambda ctx: ctx.vars.get(scope)


@operator("Iteration")
def compile_iteration(node: dict, c: Compiler) -> Evaluator:
    c.uses_scope()
    return lambda ctx: ctx.vars.get("$index")


@operator("Total")
def compile_total(node: dict, c: Compiler) -> Evaluator:
    c.uses_scope()
    return lambda ctx: ctx.vars.get("$total")


@operator("Times")
def compile_times(node: dict, c: Compiler) -> Evaluator:
    a, b = c.compile_operands(node)

    def times(ctx: Any) -> list | None:
        x, y = a(ctx), b(ctx)
        if x is None or y is None:
            return None
        return [Tuple({**t1, **t2}) for t1 in x for t2 in y]

    return times


@operator("Children")
def compile_children(node: dict, c: Compiler) -> Evaluator:
    """The direct child values of a structured value (element values, flattened)."""
    src = _source(node, c)

    def children(ctx: Any) -> list | None:
        v = src(ctx)
        if v is None:
            return None
        values = v.values() if isinstance(v, dict) else v if isinstance(v, list) else []
        out: list = []
        for ch in values:
            if isinstance(ch, list):
                out.extend(x for x in ch if x is not None)
            elif ch is not None:
                out.append(ch)
        return out

    return children


@operator("Descendants")
def compile_descendants(node: dict, c: Compiler) -> Evaluator:
    src = _source(node, c)

    def descendants(ctx: Any) -> list | None:
        v = src(ctx)
        if v is None:
            return None
        out: list = []
        stack = [v]
        while stack:
            x = stack.pop()
            children = list(x.values()) if isinstance(x, dict) else x if isinstance(x, list) else []
            for ch in children:
                if isinstance(ch, list):
                    stack.extend(ch)
                    out.extend(ch)
                elif ch is not None:
                    out.append(ch)
                    stack.append(ch)
        return out

    return descendants
