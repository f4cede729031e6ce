"""CQL Interval and the interval operators' semantics (CQL 1.5 §19.x, Interval Operators).

Bounds are normalised to closed ones (``start``/``end``): an open bound steps by successor or
predecessor. A null bound means:

- closed and the point type is known: the minimum (low) or maximum (high) value of the type
  (``Interval[null, 5]`` starts at the minimum Integer);
- otherwise (open, or point type unknown): *unknown*, somewhere between the other bound and
  the end of the line.

Each normalised bound is therefore a range ``(lo, hi)`` of possible points; comparisons on ranges
are definite when the ranges do not overlap and null otherwise. Every operator is written
in terms of ``≤``/``<``/``=`` on those ranges and three-valued logic, which gives the
spec's null results without special cases. An optional precision (for Date/DateTime/Time)
compares points at that precision.
"""

from __future__ import annotations

import functools
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from service.elm import semantics
from service.elm.datatypes.numbers import (
    DECIMAL_MAX,
    DECIMAL_MIN,
    DECIMAL_STEP,
    INT_MAX,
    INT_MIN,
    LONG_MAX,
    LONG_MIN,
    Long,
)
from service.elm.datatypes.quantity import Quantity
from service.elm.datatypes.temporal import (
    DAY,
    MAX_DATE,
    MAX_DATETIME,
    MAX_TIME,
    MIN_DATE,
    MIN_DATETIME,
    MIN_TIME,
    PRECISION_NAMES,
    WEEK,
    Date,
    DateTime,
    Time,
    _Temporal,
    unit_index,
)
from service.elm.errors import CqlError


class IntervalError(CqlError, ValueError):
    """An interval operation CQL defines as an error (e.g. point from a non-unit interval)."""


class _Inf:
    __slots__ = ("sign",)

    def __init__(self, sign: int) -> None:
        self.sign = sign

    def __repr__(self) -> str:
        return "+inf" if self.sign > 0 else "-inf"


NEG = _Inf(-1)
POS = _Inf(1)


def point_type_of(x: Any) -> str | None:
    if x is None or isinstance(x, bool):
        return None
    if isinstance(x, Long):
        return "Long"
    if isinstance(x, int):
        return "Integer"
    if isinstance(x, Decimal):
        return "Decimal"
    if isinstance(x, Quantity):
        return "Quantity"
    if isinstance(x, DateTime):
        return "DateTime"
    if isinstance(x, Date):
        return "Date"
    if isinstance(x, Time):
        return "Time"
    return None


def min_value(point_type: str | None) -> Any:
    return {
        "Integer": INT_MIN,
        "Long": Long(LONG_MIN),
        "Decimal": DECIMAL_MIN,
        "DateTime": MIN_DATETIME,
        "Date": MIN_DATE,
        "Time": MIN_TIME,
    }.get(point_type or "")


def max_value(point_type: str | None) -> Any:
    return {
        "Integer": INT_MAX,
        "Long": Long(LONG_MAX),
        "Decimal": DECIMAL_MAX,
        "DateTime": MAX_DATETIME,
        "Date": MAX_DATE,
        "Time": MAX_TIME,
    }.get(point_type or "")


def successor(x: Any) -> Any:
    if isinstance(x, _Inf):
        return x
    if isinstance(x, Decimal):
        return x + DECIMAL_STEP
    if isinstance(x, int) and not isinstance(x, bool):
        return type(x)(x + 1) if isinstance(x, Long) else x + 1
    return x.successor()


def predecessor(x: Any) -> Any:
    if isinstance(x, _Inf):
        return x
    if isinstance(x, Decimal):
        return x - DECIMAL_STEP
    if isinstance(x, int) and not isinstance(x, bool):
        return type(x)(x - 1) if isinstance(x, Long) else x - 1
    return x.predecessor()


class Interval:
    """``Interval[low, high]`` with open/closed bounds; ``point_type`` resolves null bounds."""

    __slots__ = ("_end", "_start", "high", "high_closed", "low", "low_closed", "point_type")

    def __init__(
        self,
        low: Any,
        high: Any,
        low_closed: bool = True,
        high_closed: bool = True,
        point_type: str | None = None,
    ) -> None:
        self.low = low
        self.high = high
        self.low_closed = low_closed
        self.high_closed = high_closed
        self.point_type = point_type
        self._start: tuple | None = None
        self._end: tuple | None = None

    # -- normalised bounds -------------------------------------------------------------------------
    def _point_start(self) -> Any:
        """The closed start when it is a definite point, else None."""
        low = self.low
        if low is None:
            return min_value(self._type()) if self.low_closed else None
        return low if self.low_closed else successor(low)

    def _point_end(self) -> Any:
        high = self.high
        if high is None:
            return max_value(self._type()) if self.high_closed else None
        return high if self.high_closed else predecessor(high)

    def _type(self) -> str | None:
        return self.point_type or point_type_of(self.low if self.low is not None else self.high)

    def start_range(self) -> tuple:
        r = self._start
        if r is None:
            s = self._point_start()
            if s is not None:
                r = (s, s)
            else:
                e = self._point_end()
                r = (NEG, POS if e is None else e)
            self._start = r
        return r

    def end_range(self) -> tuple:
        r = self._end
        if r is None:
            e = self._point_end()
            if e is not None:
                r = (e, e)
            else:
                s = self._point_start()
                r = (NEG if s is None else s, POS)
            self._end = r
        return r

    def start(self) -> Any:
        """CQL ``start of``: the closed start, or null when unknown."""
        lo, hi = self.start_range()
        return lo if lo is hi else None

    def end(self) -> Any:
        lo, hi = self.end_range()
        return lo if lo is hi else None

    # -- value protocol ----------------------------------------------------------------------------
    def cql_equal(self, other: Any) -> bool | None:
        if not isinstance(other, Interval):
            return None
        return and3(
            req(self.start_range(), other.start_range()),
            req(self.end_range(), other.end_range()),
        )

    def cql_equivalent(self, other: Any) -> bool:
        if not isinstance(other, Interval):
            return False
        s1, s2 = self.start(), other.start()
        e1, e2 = self.end(), other.end()
        if s1 is not None and s2 is not None and e1 is not None and e2 is not None:
            return semantics.equivalent(s1, s2) and semantics.equivalent(e1, e2)
        return (
            semantics.equivalent(self.low, other.low)
            and semantics.equivalent(self.high, other.high)
            and self.low_closed == other.low_closed
            and self.high_closed == other.high_closed
        )

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Interval)
            and self.low == other.low
            and self.high == other.high
            and self.low_closed == other.low_closed
            and self.high_closed == other.high_closed
        )

    def __hash__(self) -> int:
        return hash((Interval, self.low, self.high, self.low_closed, self.high_closed))

    def __str__(self) -> str:
        lb = "[" if self.low_closed else "("
        hb = "]" if self.high_closed else ")"
        return f"Interval{lb}{_fmt(self.low)}, {_fmt(self.high)}{hb}"

    __repr__ = __str__


def _fmt(x: Any) -> str:
    if x is None:
        return "null"
    if isinstance(x, _Temporal):
        return repr(x)
    return str(x)


# -- three-valued helpers ---------------------------------------------------------------
def and3(*xs: bool | None) -> bool | None:
    unknown = False
    for x in xs:
        if x is False:
            return False
        if x is None:
            unknown = True
    return None if unknown else True


def or3(*xs: bool | None) -> bool | None:
    unknown = False
    for x in xs:
        if x is True:
            return True
        if x is None:
            unknown = True
    return None if unknown else False


def not3(x: bool | None) -> bool | None:
    return None if x is None else not x


def pcmp(a: Any, b: Any, precision: int | None = None) -> int | None:
    """Compare two points (or infinities), optionally at a temporal precision."""
    if isinstance(a, _Inf):
        return 0 if b is a else a.sign
    if isinstance(b, _Inf):
        return -b.sign
    if precision is not None and isinstance(a, _Temporal):
        return a.compare_at(b, precision)
    return semantics.compare(a, b)


def rlt(x: tuple, y: tuple, p: int | None = None) -> bool | None:
    """Range x < range y: definite only when the ranges are apart."""
    if x[0] is x[1] and y[0] is y[1]:
        c = pcmp(x[0], y[0], p)
        return None if c is None else c < 0
    c = pcmp(x[1], y[0], p)
    if c is not None and c < 0:
        return True
    c = pcmp(x[0], y[1], p)
    if c is not None and c >= 0:
        return False
    return None


def rle(x: tuple, y: tuple, p: int | None = None) -> bool | None:
    """Range x <= range y."""
    if x[0] is x[1] and y[0] is y[1]:
        c = pcmp(x[0], y[0], p)
        return None if c is None else c <= 0
    c = pcmp(x[1], y[0], p)
    if c is not None and c <= 0:
        return True
    c = pcmp(x[0], y[1], p)
    if c is not None and c > 0:
        return False
    return None


def req(x: tuple, y: tuple, p: int | None = None) -> bool | None:
    """Range x = range y: definite when both are points, false when apart."""
    if x[0] is x[1] and y[0] is y[1]:
        c = pcmp(x[0], y[0], p)
        return None if c is None else c == 0
    c = pcmp(x[1], y[0], p)
    if c is not None and c < 0:
        return False
    c = pcmp(x[0], y[1], p)
    if c is not None and c > 0:
        return False
    return None


def _pt(x: Any) -> tuple:
    return (x, x)


def _succ(r: tuple) -> tuple:
    if r[0] is r[1]:
        v = successor(r[0])
        return (v, v)
    return (successor(r[0]), successor(r[1]))


# -- operators (a, b are Interval; points are plain values) ---------------------------------------
def contains(a: Interval | None, x: Any, p: int | None = None) -> bool | None:
    if a is None:
        return False
    if x is None:
        return None
    px = _pt(x)
    return and3(rle(a.start_range(), px, p), rle(px, a.end_range(), p))


def proper_contains(a: Interval | None, x: Any, p: int | None = None) -> bool | None:
    if a is None:
        return False
    if x is None:
        return None
    px = _pt(x)
    return and3(rlt(a.start_range(), px, p), rlt(px, a.end_range(), p))


def includes(a: Interval | None, b: Interval | None, p: int | None = None) -> bool | None:
    if a is None or b is None:
        return None
    return and3(rle(a.start_range(), b.start_range(), p), rle(b.end_range(), a.end_range(), p))


def proper_includes(a: Interval | None, b: Interval | None, p: int | None = None) -> bool | None:
    if a is None or b is None:
        return None
    s1, e1, s2, e2 = a.start_range(), a.end_range(), b.start_range(), b.end_range()
    return and3(rle(s1, s2, p), rle(e2, e1, p), or3(rlt(s1, s2, p), rlt(e2, e1, p)))


def before(a: Any, b: Any, p: int | None = None) -> bool | None:
    """``a before b`` for any mix of intervals and points."""
    if a is None or b is None:
        return None
    ea = a.end_range() if isinstance(a, Interval) else _pt(a)
    sb = b.start_range() if isinstance(b, Interval) else _pt(b)
    return rlt(ea, sb, p)


def after(a: Any, b: Any, p: int | None = None) -> bool | None:
    if a is None or b is None:
        return None
    sa = a.start_range() if isinstance(a, Interval) else _pt(a)
    eb = b.end_range() if isinstance(b, Interval) else _pt(b)
    return rlt(eb, sa, p)


def same_or_before(a: Any, b: Any, p: int | None = None) -> bool | None:
    """``a on or before b``: the end of a is at or before the start of b."""
    if a is None or b is None:
        return None
    ea = a.end_range() if isinstance(a, Interval) else _pt(a)
    sb = b.start_range() if isinstance(b, Interval) else _pt(b)
    return rle(ea, sb, p)


def same_or_after(a: Any, b: Any, p: int | None = None) -> bool | None:
    if a is None or b is None:
        return None
    sa = a.start_range() if isinstance(a, Interval) else _pt(a)
    eb = b.end_range() if isinstance(b, Interval) else _pt(b)
    return rle(eb, sa, p)


def same_as(a: Any, b: Any, p: int | None = None) -> bool | None:
    if a is None or b is None:
        return None
    if isinstance(a, Interval) and isinstance(b, Interval):
        return and3(req(a.start_range(), b.start_range(), p), req(a.end_range(), b.end_range(), p))
    return req(_pt(a), _pt(b), p)


def meets_before(a: Interval | None, b: Interval | None, p: int | None = None) -> bool | None:
    if a is None or b is None:
        return None
    return req(_succ(a.end_range()), b.start_range(), p)


def meets_after(a: Interval | None, b: Interval | None, p: int | None = None) -> bool | None:
    if a is None or b is None:
        return None
    return req(_succ(b.end_range()), a.start_range(), p)


def meets(a: Interval | None, b: Interval | None, p: int | None = None) -> bool | None:
    if a is None or b is None:
        return None
    return or3(meets_before(a, b, p), meets_after(a, b, p))


def overlaps(a: Interval | None, b: Interval | None, p: int | None = None) -> bool | None:
    if a is None or b is None:
        return None
    return and3(rle(a.start_range(), b.end_range(), p), rle(b.start_range(), a.end_range(), p))


def overlaps_before(a: Interval | None, b: Interval | None, p: int | None = None) -> bool | None:
    """a starts before b starts and ends at or after b starts."""
    if a is None or b is None:
        return None
    return and3(rlt(a.start_range(), b.start_range(), p), rle(b.start_range(), a.end_range(), p))


def overlaps_after(a: Interval | None, b: Interval | None, p: int | None = None) -> bool | None:
    """a ends after b ends and starts at or before b ends."""
    if a is None or b is None:
        return None
    return and3(rlt(b.end_range(), a.end_range(), p), rle(a.start_range(), b.end_range(), p))


def starts(a: Interval | None, b: Interval | None, p: int | None = None) -> bool | None:
    if a is None or b is None:
        return None
    return and3(req(a.start_range(), b.start_range(), p), rle(a.end_range(), b.end_range(), p))


def ends(a: Interval | None, b: Interval | None, p: int | None = None) -> bool | None:
    if a is None or b is None:
        return None
    return and3(rle(b.start_range(), a.start_range(), p), req(a.end_range(), b.end_range(), p))


def _low_of(i: Interval) -> tuple[Any, bool]:
    return i.low, i.low_closed


def _high_of(i: Interval) -> tuple[Any, bool]:
    return i.high, i.high_closed


def union(a: Interval | None, b: Interval | None) -> Interval | None:
    if a is None or b is None:
        return None
    joined = and3(
        rle(a.start_range(), _succ(b.end_range())), rle(b.start_range(), _succ(a.end_range()))
    )
    if joined is not True:
        return None
    lo = _pick(a, b, start=True, smaller=True)
    hi = _pick(a, b, start=False, smaller=False)
    if lo is None or hi is None:
        return None
    return Interval(lo[0], hi[0], lo[1], hi[1], a._type() or b._type())


def intersect(a: Interval | None, b: Interval | None) -> Interval | None:
    if a is None or b is None:
        return None
    if overlaps(a, b) is not True:
        return None
    lo = _pick(a, b, start=True, smaller=False) or (None, False)
    hi = _pick(a, b, start=False, smaller=True) or (None, False)
    return Interval(lo[0], hi[0], lo[1], hi[1], a._type() or b._type())


def _pick(a: Interval, b: Interval, start: bool, smaller: bool) -> tuple[Any, bool] | None:
    """The raw bound (value, closed) of the interval whose normalised bound is the
    smaller/greater one; None when that cannot be decided."""
    ra = a.start_range() if start else a.end_range()
    rb = b.start_range() if start else b.end_range()
    take = _low_of if start else _high_of
    a_first = rle(ra, rb)
    if a_first is None:
        a_first = not3(rle(rb, ra))
        if a_first is None:
            return None
    chosen = a if a_first == smaller else b
    return take(chosen)


def except_(a: Interval | None, b: Interval | None) -> Interval | None:
    if a is None or b is None:
        return None
    ov = overlaps(a, b)
    if ov is None:
        return None
    if ov is False:
        return a
    s1, e1, s2, e2 = a.start_range(), a.end_range(), b.start_range(), b.end_range()
    cut_start = rlt(s1, s2)
    cut_end = rlt(e2, e1)
    if cut_start is None or cut_end is None or (cut_start and cut_end):
        return None
    if cut_start:
        if b.low is None:
            return Interval(a.low, predecessor(s2[0]), a.low_closed, True, a.point_type)
        return Interval(a.low, b.low, a.low_closed, not b.low_closed, a.point_type)
    if cut_end:
        if b.high is None:
            return Interval(successor(e2[0]), a.high, True, a.high_closed, a.point_type)
        return Interval(b.high, a.high, not b.high_closed, a.high_closed, a.point_type)
    return None


def width(a: Interval | None) -> Any:
    if a is None:
        return None
    s, e = a.start(), a.end()
    if s is None or e is None:
        return None
    if isinstance(s, _Temporal):
        raise IntervalError("width is not defined for intervals of dates or times")
    if isinstance(s, Quantity):
        return e.subtract(s)
    return e - s


def size(a: Interval | None) -> Any:
    if a is None:
        return None
    w = width(a)
    if w is None:
        return None
    if isinstance(w, Quantity):
        return Quantity(w.value + DECIMAL_STEP, w.unit)
    return w + (DECIMAL_STEP if isinstance(w, Decimal) else 1)


def point_from(a: Interval | None) -> Any:
    if a is None:
        return None
    s, e = a.start(), a.end()
    if s is None or e is None:
        return None
    if semantics.equal(s, e) is not True:
        raise IntervalError("point from requires a unit interval")
    return s


# -- collapse and expand ----------------------------------------------------------------
def _per_add(x: Any, per: Any) -> Any:
    """x plus one ``per`` step (a Quantity for dates/times and quantities, a number otherwise)."""
    if isinstance(x, (_Temporal, Quantity)):
        return x.add(per)
    v = per.value if isinstance(per, Quantity) else per
    return x + v


def collapse(intervals: list | None, per: Any = None) -> list | None:
    if intervals is None:
        return None
    items = [i for i in intervals if i is not None and (i.low is not None or i.high is not None)]
    if not items:
        return []
    items.sort(key=_sort_key_factory())
    out: list[Interval] = [items[0]]
    for nxt in items[1:]:
        cur = out[-1]
        end = cur.end()
        if per is not None and end is not None:
            # the per quantity is the granularity: the next interval joins when it starts
            # within one per step of the current end (compared at the per's precision)
            p = _per_precision(per) if isinstance(end, _Temporal) else None
            joined = rle(nxt.start_range(), _pt(_per_add(end, per)), p)
        else:
            joined = rle(nxt.start_range(), _succ(cur.end_range()))
        if joined is True:
            hi = _pick(cur, nxt, start=False, smaller=False)
            if hi is None:
                hi = (None, False)
            out[-1] = Interval(cur.low, hi[0], cur.low_closed, hi[1], cur.point_type)
        else:
            out.append(nxt)
    return out


def _per_precision(per: Any) -> int | None:
    u = unit_index(getattr(per, "unit", None))
    return DAY if u == WEEK else u


def _sort_key_factory() -> Any:
    def cmp(a: Interval, b: Interval) -> int:
        c = pcmp(a.start_range()[0], b.start_range()[0])
        if c is None or c == 0:
            c = pcmp(a.end_range()[1], b.end_range()[1]) or 0
        return c

    return functools.cmp_to_key(cmp)


def _decimal_places(d: Decimal) -> int:
    exp = d.as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 0


def _expand_one(a: Interval, per: Any) -> list[Interval]:
    s, e = a.start(), a.end()
    if s is None or e is None:
        return []
    if isinstance(s, _Temporal):
        return _expand_temporal(s, e, per)
    if per is None:
        step: Decimal | int = 1
    elif isinstance(per, Quantity):
        step = per.value
        if isinstance(s, Quantity):
            return _expand_quantity(s, e, per)
    else:
        step = per
    if (
        isinstance(step, Decimal)
        and step == step.to_integral_value()
        and _decimal_places(step) == 0
    ):
        step = int(step)
    if isinstance(step, int) and isinstance(s, int) and isinstance(e, int):
        out = []
        x = s
        while x + step - 1 <= e:
            out.append(Interval(x, x + step - 1))
            x += step
        return out
    places = _decimal_places(Decimal(step)) if isinstance(step, Decimal) else 0
    unit = Decimal(1).scaleb(-places)
    ds, de = Decimal(s), Decimal(e)
    if isinstance(s, int) and isinstance(e, int) and places > 0:
        de = de + 1 - unit
    ds = ds.quantize(unit, rounding=ROUND_CEILING)
    de = de.quantize(unit, rounding=ROUND_FLOOR)
    out = []
    x = ds
    dstep = Decimal(step)
    while x + dstep - unit <= de:
        out.append(Interval(x, x + dstep - unit))
        x += dstep
    return out


def _expand_quantity(s: Quantity, e: Quantity, per: Quantity) -> list[Interval]:
    e2 = e.convert(s.unit) if e.unit != s.unit else e
    p2 = per.convert(s.unit) if per.unit != s.unit else per
    if e2 is None or p2 is None or p2.value <= 0:
        return []
    sub = _expand_one(Interval(s.value, e2.value), p2.value)
    return [Interval(Quantity(i.low, s.unit), Quantity(i.high, s.unit)) for i in sub]


def _expand_temporal(s: Any, e: Any, per: Any) -> list[Interval]:
    if per is None:
        prec = s.precision
        per = Quantity(1, PRECISION_NAMES[prec])
    u = unit_index(per.unit)
    if u is None:
        return []
    prec = DAY if u == WEEK else u
    if prec < s._base:
        return []
    if s.precision < prec or e.precision < prec:
        return []
    s = s._replace_parts(s.parts[: prec - s._base + 1])
    e = e._replace_parts(e.parts[: prec - e._base + 1])
    out = []
    x = s
    one = Quantity(1, per.unit if u != WEEK else "day")
    guard = 0
    while True:
        last = x.add(per).subtract(one)
        c = pcmp(last, e)
        if c is None or c > 0:
            break
        out.append(Interval(x, last))
        x = x.add(per)
        guard += 1
        if guard > 100_000:
            raise IntervalError("expand produces too many intervals")
    return out


def expand(source: Any, per: Any = None) -> list | None:
    """``expand`` of a list of intervals (unit intervals) or of one interval (its points)."""
    if source is None:
        return None
    if isinstance(source, Interval):
        return [i.low for i in _expand_one(source, per)]
    out: list[Interval] = []
    for i in source:
        if i is None:
            continue
        for piece in _expand_one(i, per):
            if not any(semantics.equal(piece, o) is True for o in out):
                out.append(piece)
    return out
