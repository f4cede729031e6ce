"""Interval operators, and the operators CQL overloads for lists and intervals.

Each ELM node type is registered here once. Operators shared with lists (``Union``,
``Intersect``, ``Except``, ``Includes``, ``IncludedIn``, proper variants, ``Contains``, ``In``)
dispatch on ``isinstance(x, list)`` to the ``list_*`` functions of ``ops/lists.py``; the
interval semantics live in :mod:`service.elm.datatypes.interval`. ``Before``/``After`` cover
points and intervals in any mix.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from service.elm import semantics
from service.elm.compiler import Compiler, Evaluator, constant, is_constant, spec_name
from service.elm.datatypes import interval as iv
from service.elm.datatypes.interval import Interval
from service.elm.ops import lists
from service.elm.ops.datetime import precision_of
from service.elm.registry import null_propagating, operator

_POINT_TYPES = {
    "System.Integer": "Integer",
    "System.Long": "Long",
    "System.Decimal": "Decimal",
    "System.Quantity": "Quantity",
    "System.Date": "Date",
    "System.DateTime": "DateTime",
    "System.Time": "Time",
}


def _point_type(node: dict) -> str | None:
    spec = node.get("resultTypeSpecifier") or {}
    pt = spec.get("pointType")
    if pt is None:
        return None
    return _POINT_TYPES.get(spec_name(pt) or "")


@operator("Interval")
def compile_interval(node: dict, c: Compiler) -> Evaluator:
    low = c.compile_opt(node.get("low")) or constant(None)
    high = c.compile_opt(node.get("high")) or constant(None)
    lce = c.compile_opt(node.get("lowClosedExpression"))
    hce = c.compile_opt(node.get("highClosedExpression"))
    low_closed = bool(node.get("lowClosed", True))
    high_closed = bool(node.get("highClosed", True))
    point_type = _point_type(node)
    # An interval written with its bounds in the CQL (`Interval[5, 5)`) whose low bound is
    # above its high bound is the error CQL specifies. Intervals built from data (a FHIR
    # Period with its end before its start) are kept as they are, as cql-execution does, so
    # one malformed record does not fail the whole evaluation.
    check = is_constant(low) and is_constant(high)

    def interval(ctx: Any) -> Interval:
        lc = low_closed if lce is None else bool(lce(ctx))
        hc = high_closed if hce is None else bool(hce(ctx))
        lo = low(ctx)
        hi = high(ctx)
        i = Interval(lo, hi, lc, hc, point_type)
        if check and lo is not None and hi is not None:
            s, e = i.start(), i.end()
            c_ = semantics.compare(s, e)
            if c_ is not None and c_ > 0:
                raise iv.IntervalError(f"invalid interval: low bound {lo} above high bound {hi}")
        return i

    return interval


operator("Start")(null_propagating(lambda i: i.start()))
operator("End")(null_propagating(lambda i: i.end()))
operator("Width")(null_propagating(iv.width))
operator("Size")(null_propagating(iv.size))
operator("PointFrom")(null_propagating(iv.point_from))


def _binary(fn: Callable[[Any, Any, int | None], Any]) -> Callable[[dict, Compiler], Evaluator]:
    """Compile a binary operator ``fn(x, y, precision)``; the precision is read once."""

    def compile_fn(node: dict, c: Compiler) -> Evaluator:
        a, b = c.compile_operands(node)
        p = precision_of(node)

        def run(ctx: Any) -> Any:
            return fn(a(ctx), b(ctx), p)

        return run

    return compile_fn


def list_proper_contains(lst: list | None, x: Any) -> bool | None:
    """``lst properly includes x``: x is in the list and some element is definitely not x.

    Null matches null; an element whose equality with x is unknown makes membership unknown.
    """
    if lst is None:
        return False
    contained: bool | None = False
    other: bool | None = False
    for e in lst:
        if x is None:
            same: bool | None = e is None
        elif e is None:
            same = None
        else:
            same = semantics.equal(x, e)
        if same is True:
            contained = True
        elif same is False:
            other = True
        else:
            if contained is False:
                contained = None
            if other is False:
                other = None
    return iv.and3(contained, other)


def list_proper_in(x: Any, lst: list | None) -> bool | None:
    return list_proper_contains(lst, x)


def _null_in(lst: list | None) -> bool | None:
    """``null in lst``: true when the list holds a null, false when empty, else unknown."""
    if not lst:
        return False
    return True if any(e is None for e in lst) else None


def _has_lists(lst: list) -> bool:
    return any(isinstance(e, list) for e in lst)


def contains_(x: Any, y: Any, p: int | None) -> bool | None:
    if isinstance(x, list):
        if isinstance(y, list) and not _has_lists(x):
            return lists.list_includes(x, y)
        if y is None:
            return _null_in(x)
        return lists.list_contains(x, y)
    return iv.contains(x, y, p)


def in_(x: Any, y: Any, p: int | None) -> bool | None:
    if isinstance(y, list):
        if isinstance(x, list) and not _has_lists(y):
            return lists.list_included_in(x, y)
        if x is None:
            return _null_in(y)
        return lists.list_in(x, y)
    if isinstance(x, Interval):  # the translator sometimes writes `during` of intervals as In
        return iv.includes(y, x, p)
    return iv.contains(y, x, p)


def includes_(x: Any, y: Any, p: int | None) -> bool | None:
    if isinstance(x, list) or isinstance(y, list):
        if isinstance(y, list) or y is None:
            return lists.list_includes(x, y)
        return contains_(x, y, p)
    if x is None:
        return None
    if y is None or isinstance(y, Interval):
        return iv.includes(x, y, p)
    return iv.contains(x, y, p)


def included_in_(x: Any, y: Any, p: int | None) -> bool | None:
    if isinstance(x, list) or isinstance(y, list):
        if isinstance(x, list) or x is None:
            return lists.list_included_in(x, y)
        return in_(x, y, p)
    if x is None:
        return None
    if isinstance(x, Interval):
        return iv.includes(y, x, p)
    return iv.contains(y, x, p)


def proper_includes_(x: Any, y: Any, p: int | None) -> bool | None:
    if isinstance(x, list) or isinstance(y, list):
        if isinstance(y, list) or y is None:
            return lists.list_proper_includes(x, y)
        return list_proper_contains(x, y)
    if x is None or y is None:
        return None
    if isinstance(y, Interval):
        return iv.proper_includes(x, y, p)
    return iv.proper_contains(x, y, p)


def proper_included_in_(x: Any, y: Any, p: int | None) -> bool | None:
    if isinstance(x, list) or isinstance(y, list):
        if isinstance(x, list) or x is None:
            return lists.list_proper_included_in(x, y)
        return list_proper_in(x, y)
    if x is None or y is None:
        return None
    if isinstance(x, Interval):
        return iv.proper_includes(y, x, p)
    return iv.proper_contains(y, x, p)


def proper_contains_(x: Any, y: Any, p: int | None) -> bool | None:
    if isinstance(x, list):
        return list_proper_contains(x, y)
    return iv.proper_contains(x, y, p)


def proper_in_(x: Any, y: Any, p: int | None) -> bool | None:
    if isinstance(y, list):
        return list_proper_in(x, y)
    return iv.proper_contains(y, x, p)


operator("Contains")(_binary(contains_))
operator("In")(_binary(in_))
operator("Includes")(_binary(includes_))
operator("IncludedIn")(_binary(included_in_))
operator("ProperIncludes")(_binary(proper_includes_))
operator("ProperIncludedIn")(_binary(proper_included_in_))
operator("ProperContains")(_binary(proper_contains_))
operator("ProperIn")(_binary(proper_in_))
operator("Before")(_binary(iv.before))
operator("After")(_binary(iv.after))
operator("Meets")(_binary(iv.meets))
operator("MeetsBefore")(_binary(iv.meets_before))
operator("MeetsAfter")(_binary(iv.meets_after))
operator("Overlaps")(_binary(iv.overlaps))
operator("OverlapsBefore")(_binary(iv.overlaps_before))
operator("OverlapsAfter")(_binary(iv.overlaps_after))
operator("Starts")(_binary(iv.starts))
operator("Ends")(_binary(iv.ends))


def _set_op(
    interval_fn: Callable[[Any, Any], Any], list_fn: Callable[[Any, Any], Any]
) -> Callable[[dict, Compiler], Evaluator]:
    def compile_fn(node: dict, c: Compiler) -> Evaluator:
        evs = c.compile_operands(node)

        def run(ctx: Any) -> Any:
            vals = [ev(ctx) for ev in evs]
            is_list = any(isinstance(v, list) for v in vals)
            fn = list_fn if is_list else interval_fn
            acc = vals[0]
            for v in vals[1:]:
                acc = fn(acc, v)
            return acc

        return run

    return compile_fn


operator("Union")(_set_op(iv.union, lists.list_union))
operator("Intersect")(_set_op(iv.intersect, lists.list_intersect))
operator("Except")(_set_op(iv.except_, lists.list_except))


def _source_and_per(node: dict, c: Compiler) -> tuple[Evaluator, Evaluator]:
    ops = c.compile_operands(node)
    src = ops[0]
    per = ops[1] if len(ops) > 1 else constant(None)
    return src, per


@operator("Collapse")
def compile_collapse(node: dict, c: Compiler) -> Evaluator:
    src, per = _source_and_per(node, c)

    def collapse(ctx: Any) -> list | None:
        return iv.collapse(src(ctx), per(ctx))

    return collapse


@operator("Expand")
def compile_expand(node: dict, c: Compiler) -> Evaluator:
    src, per = _source_and_per(node, c)

    def expand(ctx: Any) -> list | None:
        return iv.expand(src(ctx), per(ctx))

    return expand
