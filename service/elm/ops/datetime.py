"""Date/time operators: selectors, Now/Today/TimeOfDay, component extraction, durations,
differences and the point forms of same-as/same-or-before/same-or-after.

A ``DateTime(...)`` selector without a timezone offset takes the evaluation's offset (the
offset of ``Now()``). Precision attributes are resolved once, at compile time.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from service.elm.compiler import Compiler, Evaluator, constant, is_constant
from service.elm.datatypes import interval as iv
from service.elm.datatypes.temporal import (
    MILLISECOND,
    Date,
    DateTime,
    TemporalError,
    Time,
    _Temporal,
    unit_index,
)
from service.elm.errors import ElmLoadError
from service.elm.ops.clinical import evaluation_datetime
from service.elm.registry import null_propagating, operator
from service.elm.units import DAY, HOUR, PRECISION_NAMES


def precision_of(node: dict) -> int | None:
    """The node's ``precision`` attribute as a unit index (None when absent)."""
    p = node.get("precision")
    if p is None:
        return None
    u = unit_index(p)
    if u is None:
        raise ElmLoadError(f"unknown precision {p!r} at {node.get('locator', '?')}")
    return u


def _component_evaluators(node: dict, c: Compiler, names: tuple[str, ...]) -> list[Evaluator]:
    evs = []
    for n in names:
        child = node.get(n)
        evs.append(c.compile(child) if child is not None else constant(None))
    return evs


def _int_or_none(x: Any) -> int | None:
    return None if x is None else int(x)


_LOCATOR = re.compile(r"^(\d+):(\d+)-(\d+):(\d+)$")


def _span(node: dict) -> int | None:
    m = _LOCATOR.match(node.get("locator") or "")
    if not m or m.group(1) != m.group(3):
        return None
    return int(m.group(4)) - int(m.group(2)) + 1


def _scaled(raw: str, digits: int) -> int | None:
    if digits < 1 or not raw.isdigit() or len(raw) > digits:
        return None
    v = int(raw)
    return v * 10 ** (3 - digits) if digits <= 3 else v // 10 ** (digits - 3)


def literal_millisecond(node: dict, fixed: int) -> dict | None:
    """The millisecond of a date/time *literal*, read as the fraction of a second it is.

    The translator writes the digits after the decimal point as an integer (``@T10:00:00.5``,
    ``.05`` and ``.005`` all become ``5``; ``.10000`` becomes ``10000``). A literal's component
    literals carry no locator of their own, and the literal's span tells how many digits there
    were: ``fixed`` characters precede the fraction (and a timezone may follow it).
    """
    ms = node.get("millisecond")
    if not ms or ms.get("type") != "Literal" or "locator" in ms:
        return ms
    span = _span(node)
    if span is None:
        return ms
    raw = str(ms.get("value"))
    tz = node.get("timezoneOffset")
    if tz is None:
        candidates = {_scaled(raw, span - fixed)}
    elif tz.get("type") == "Literal" and Decimal(str(tz.get("value"))) != 0:
        candidates = {_scaled(raw, span - fixed - 6)}
    else:  # offset 0 written as 'Z' or '+00:00'
        candidates = {_scaled(raw, span - fixed - 1), _scaled(raw, span - fixed - 6)} - {None}
    if len(candidates) != 1 or None in candidates:
        return ms
    return {**ms, "value": str(candidates.pop())}


def _constant_datetime(evs: list[Evaluator]) -> DateTime | None:
    """The DateTime of constant, valid components (None otherwise: evaluated at run time,
    where an invalid component is the run-time error CQL specifies)."""
    if not all(is_constant(ev) for ev in evs):
        return None
    vals = [_int_or_none(ev(None)) for ev in evs]
    if vals[0] is None:
        return None
    try:
        return DateTime(*vals)
    except TemporalError:
        return None


@operator("DateTime")
def compile_datetime(node: dict, c: Compiler) -> Evaluator:
    names = PRECISION_NAMES
    node = {**node, "millisecond": literal_millisecond(node, len("@YYYY-MM-DDThh:mm:ss."))}
    evs = _component_evaluators(node, c, names)
    tz_node = node.get("timezoneOffset")
    tz_ev = c.compile(tz_node) if tz_node is not None else None
    if tz_ev is None:
        c.not_constant()
        literal = _constant_datetime(evs)
        if literal is not None:
            # a literal without an offset: constant components, one value per evaluation offset
            by_offset: dict[Any, DateTime] = {}

            def datetime_literal(ctx: Any) -> DateTime:
                tz = evaluation_datetime(ctx).tz
                v = by_offset.get(tz)
                if v is None:
                    v = by_offset[tz] = DateTime._make(literal.parts, tz)
                return v

            return datetime_literal

    def datetime_(ctx: Any) -> DateTime | None:
        vals = [ev(ctx) for ev in evs]
        if vals[0] is None:
            return None
        if tz_ev is None:
            tz = evaluation_datetime(ctx).tz
        else:
            tz = tz_ev(ctx)
            if tz is not None and not isinstance(tz, Decimal):
                tz = Decimal(tz)
        return DateTime(*(_int_or_none(v) for v in vals), tz=tz)

    return datetime_


@operator("Date")
def compile_date(node: dict, c: Compiler) -> Evaluator:
    y, m, d = _component_evaluators(node, c, PRECISION_NAMES[: DAY + 1])

    def date_(ctx: Any) -> Date | None:
        year = y(ctx)
        if year is None:
            return None
        return Date(year, _int_or_none(m(ctx)), _int_or_none(d(ctx)))

    return date_


@operator("Time")
def compile_time(node: dict, c: Compiler) -> Evaluator:
    node = {**node, "millisecond": literal_millisecond(node, len("@Thh:mm:ss."))}
    h, mi, s, ms = _component_evaluators(node, c, PRECISION_NAMES[HOUR:])

    def time_(ctx: Any) -> Time | None:
        hour = h(ctx)
        if hour is None:
            return None
        return Time(hour, _int_or_none(mi(ctx)), _int_or_none(s(ctx)), _int_or_none(ms(ctx)))

    return time_


@operator("Now")
def compile_now(node: dict, c: Compiler) -> Evaluator:
    c.not_constant()
    return evaluation_datetime


@operator("Today")
def compile_today(node: dict, c: Compiler) -> Evaluator:
    c.not_constant()

    def today(ctx: Any) -> Date:
        return evaluation_datetime(ctx).date()

    return today


@operator("TimeOfDay")
def compile_time_of_day(node: dict, c: Compiler) -> Evaluator:
    c.not_constant()

    def time_of_day(ctx: Any) -> Time | None:
        return evaluation_datetime(ctx).time()

    return time_of_day


operator("DateFrom")(null_propagating(lambda x: x if isinstance(x, Date) else x.date()))
operator("TimeFrom")(null_propagating(lambda x: x.time()))
operator("TimezoneOffsetFrom", "TimezoneFrom")(null_propagating(lambda x: x.tz))


@operator("DateTimeComponentFrom")
def compile_component_from(node: dict, c: Compiler) -> Evaluator:
    a = c.compile_operand(node)
    p = precision_of(node)
    if p is None or p > MILLISECOND:
        raise ElmLoadError(f"DateTimeComponentFrom needs a precision at {node.get('locator')}")

    def component_from(ctx: Any) -> int | None:
        x = a(ctx)
        return None if x is None else x.component(p)

    return component_from


def _between(method: str) -> Any:
    def compile_fn(node: dict, c: Compiler) -> Evaluator:
        a, b = c.compile_operands(node)
        p = precision_of(node)
        if p is None:
            raise ElmLoadError(f"{node['type']} needs a precision at {node.get('locator')}")

        def between(ctx: Any) -> Any:
            x = a(ctx)
            if x is None:
                return None
            y = b(ctx)
            if y is None:
                return None
            return getattr(x, method)(y, p)

        return between

    return compile_fn


operator("DurationBetween")(_between("duration_between"))
operator("DifferenceBetween")(_between("difference_between"))


def _point_or_interval(name: str, fn: Any) -> Any:
    """SameAs / SameOrBefore / SameOrAfter, for points (fast path) and intervals."""
    point_op = {
        "SameAs": lambda c: c == 0,
        "SameOrBefore": lambda c: c <= 0,
        "SameOrAfter": lambda c: c >= 0,
    }[name]

    def compile_fn(node: dict, c: Compiler) -> Evaluator:
        a, b = c.compile_operands(node)
        p = precision_of(node)

        def run(ctx: Any) -> bool | None:
            x = a(ctx)
            if x is None:
                return None
            y = b(ctx)
            if y is None:
                return None
            if isinstance(x, _Temporal) and not isinstance(y, iv.Interval):
                r = x.compare_at(y, p)
                return None if r is None else point_op(r)
            return fn(x, y, p)

        return run

    return compile_fn


operator("SameAs")(_point_or_interval("SameAs", iv.same_as))
operator("SameOrBefore")(_point_or_interval("SameOrBefore", iv.same_or_before))
operator("SameOrAfter")(_point_or_interval("SameOrAfter", iv.same_or_after))
