"""CQL Date, DateTime and Time: calendar values with a precision.

A value keeps only the components it was given (``parts``), so ``DateTime(2014)`` has year
precision. Rules implemented here (CQL 1.5, §5 Date/Time operators, §1.5 Comparison):

- Comparison walks the components from the most significant; if one value runs out of
  components before a difference is found, the answer is unknown (None). Milliseconds are a
  precision of their own here (``@T12:00:00 < @T12:00:00.001`` is null), as the conformance
  suite expects; only duration calculations take a missing millisecond as 0.
- DateTimes with different timezone offsets are compared after converting the right-hand side
  to the offset of the left-hand side (values without an hour are not shifted).
- ``+``/``-`` with a time-valued quantity use calendar semantics (month ends clamp); a quantity
  finer than the value's precision is first converted to that precision and truncated
  (``Date(2014) + 25 months = @2016``, ``DateTime(2005, 5, 10) + 25 hours = @2005-05-11T``).
- ``duration between`` counts whole periods; ``difference between`` counts boundaries crossed.
  Missing components give an :class:`Uncertainty` (the earliest and latest possible values).
"""

from __future__ import annotations

import datetime as _dt
import re
from decimal import Decimal
from functools import lru_cache
from typing import Any

from service.elm.datatypes.uncertainty import Uncertainty
from service.elm.errors import CqlError
from service.elm.units import (
    CALENDAR_DAYS,
    DAY,
    HOUR,
    MILLISECOND,
    MINUTE,
    MONTH,
    PRECISION_NAMES,
    SECOND,
    WEEK,
    YEAR,
    unit_index,
)
from service.elm.units import MILLISECONDS as _MS

_MS_PER_DAY = _MS[DAY]

_MIN_FIELDS = (1, 1, 1, 0, 0, 0, 0)


class TemporalError(CqlError, ValueError):
    """A date/time value or result that CQL cannot represent (bad component, overflow)."""


_MONTH_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_in_month(year: int, month: int) -> int:
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _MONTH_DAYS[month]


def _max_fields(parts: tuple, base: int) -> list[int]:
    """All seven components, missing ones set to their latest possible value."""
    f = list(_MIN_FIELDS)
    f[base : base + len(parts)] = parts
    start = base + len(parts)
    maxima = (9999, 12, 0, 23, 59, 59, 999)
    for i in range(start, 7):
        f[i] = _days_in_month(f[YEAR], f[MONTH]) if i == DAY else maxima[i]
    return f


def _min_fields(parts: tuple, base: int) -> list[int]:
    f = list(_MIN_FIELDS)
    f[base : base + len(parts)] = parts
    return f


def _to_py(f: list[int]) -> _dt.datetime:
    return _dt.datetime(f[0], f[1], f[2], f[3], f[4], f[5], f[6] * 1000)


def _from_py(d: _dt.datetime) -> list[int]:
    return [d.year, d.month, d.day, d.hour, d.minute, d.second, d.microsecond // 1000]


def _trunc(x: Decimal | int) -> int:
    return int(x)  # int() truncates toward zero for Decimal and int


class _Temporal:
    """Shared behaviour of Date, DateTime and Time: ``parts`` from field index ``_base``."""

    __slots__ = ("parts",)
    _base = 0
    _max_precision = MILLISECOND

    parts: tuple

    # -- components --------------------------------------------------------------------------
    @property
    def precision(self) -> int:
        """Index of the finest component present (YEAR .. MILLISECOND)."""
        return self._base + len(self.parts) - 1

    @property
    def precision_name(self) -> str:
        return PRECISION_NAMES[self.precision]

    def component(self, index: int) -> int | None:
        i = index - self._base
        return self.parts[i] if 0 <= i < len(self.parts) else None

    def _fields(self) -> list[int | None]:
        f: list[int | None] = [None] * 7
        f[self._base : self._base + len(self.parts)] = self.parts
        return f

    # -- comparison ----------------------------------------------------------------------------
    def _pair(self, other: Any) -> tuple[tuple, tuple] | None:
        """Both values' components, made comparable (None when the types do not compare)."""
        if type(other) is type(self):
            return self.parts, other.parts
        return None

    def cql_compare(self, other: Any) -> int | None:
        pair = self._pair(other)
        if pair is None:
            return None
        ka, kb = pair
        for x, y in zip(ka, kb, strict=False):
            if x != y:
                return -1 if x < y else 1
        return 0 if len(ka) == len(kb) else None

    def cql_equal(self, other: Any) -> bool | None:
        r = self.cql_compare(other)
        return None if r is None else r == 0

    def cql_equivalent(self, other: Any) -> bool:
        pair = self._pair(other)
        return pair is not None and pair[0] == pair[1]

    def compare_at(self, other: Any, precision: int | None) -> int | None:
        """Compare up to ``precision`` (None: the full precision of both values)."""
        if precision is None:
            return self.cql_compare(other)
        pair = self._pair(other)
        if pair is None:
            return None
        pa, pb = pair
        n = precision - self._base + 1
        for i in range(n):
            if i >= len(pa) or i >= len(pb):
                return None
            x, y = pa[i], pb[i]
            if x != y:
                return -1 if x < y else 1
        return 0

    def same_as(self, other: Any, precision: int | None = None) -> bool | None:
        r = self.compare_at(other, precision)
        return None if r is None else r == 0

    def same_or_before(self, other: Any, precision: int | None = None) -> bool | None:
        r = self.compare_at(other, precision)
        return None if r is None else r <= 0

    def same_or_after(self, other: Any, precision: int | None = None) -> bool | None:
        r = self.compare_at(other, precision)
        return None if r is None else r >= 0

    def before(self, other: Any, precision: int | None = None) -> bool | None:
        r = self.compare_at(other, precision)
        return None if r is None else r < 0

    def after(self, other: Any, precision: int | None = None) -> bool | None:
        r = self.compare_at(other, precision)
        return None if r is None else r > 0

    # -- python protocol (structural; CQL semantics live in cql_*) -----------------------------
    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._ident() == other._ident()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self._ident()))

    def _ident(self) -> tuple:
        return self.parts

    def __repr__(self) -> str:
        return f"@{self}"

    # -- arithmetic -------------------------------------------------------------------------------
    def add(self, quantity: Any) -> Any:
        if quantity is None:
            return None
        return self._shift(quantity.value, quantity.unit)

    def subtract(self, quantity: Any) -> Any:
        if quantity is None:
            return None
        return self._shift(-quantity.value, quantity.unit)

    def _shift(self, value: Decimal | int, unit: str) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _bounds(self, unit: int) -> tuple[_dt.datetime, _dt.datetime]:
        return _to_py(_min_fields(self.parts, self._base)), _to_py(
            _max_fields(self.parts, self._base)
        )

    def duration_between(self, other: Any, unit: int) -> int | Uncertainty | None:
        """Whole ``unit`` periods from self to other (an Uncertainty when precision is partial)."""
        if other is None:
            return None
        a, b = _pad(self, other, unit), _pad(other, self, unit)
        a_lo, a_hi = a._bounds(unit)
        b_lo, b_hi = a._other_bounds(b, unit, normalise=True)
        return Uncertainty.of(_whole(a_hi, b_lo, unit), _whole(a_lo, b_hi, unit))

    def difference_between(self, other: Any, unit: int) -> int | Uncertainty | None:
        """Number of ``unit`` boundaries crossed from self to other."""
        if other is None:
            return None
        a_lo, a_hi = self._bounds(unit)
        b_lo, b_hi = self._other_bounds(other, unit, normalise=unit >= HOUR and unit != WEEK)
        a_lo, a_hi, b_lo, b_hi = (_truncate(x, unit) for x in (a_lo, a_hi, b_lo, b_hi))
        return Uncertainty.of(_whole(a_hi, b_lo, unit), _whole(a_lo, b_hi, unit))

    def _other_bounds(
        self, other: Any, unit: int, normalise: bool
    ) -> tuple[_dt.datetime, _dt.datetime]:
        return other._bounds(unit)

    # -- boundaries -------------------------------------------------------------------------------
    def _with_fields(self, f: list[int], precision: int) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _replace_parts(self, parts: tuple) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def low_boundary(self, precision: int | None = None) -> Any:
        p = self._max_precision if precision is None else precision
        return self._with_fields(_min_fields(self.parts, self._base), p)

    def high_boundary(self, precision: int | None = None) -> Any:
        p = self._max_precision if precision is None else precision
        return self._with_fields(_max_fields(self.parts, self._base), p)

    def successor(self) -> Any:
        return self._shift(1, PRECISION_NAMES[self.precision])

    def predecessor(self) -> Any:
        return self._shift(-1, PRECISION_NAMES[self.precision])


def _pad(x: Any, y: Any, unit: int) -> Any:
    """For Times: ``x`` with the components finer than ``unit`` it lacks copied from ``y``.

    ``hours between @T06 and @T07:00:00`` is 1 (the conformance suite), not an uncertainty.
    Dates and DateTimes keep the reference engine's rule instead: every missing component is
    a range (``days between`` a day-precision DateTime and ``Now()`` is an uncertainty).
    """
    if type(x) is not Time or type(y) is not Time or len(x.parts) >= len(y.parts):
        return x
    if x.precision < unit:
        return x
    return x._replace_parts(x.parts + y.parts[len(x.parts) :])


def _add_months_py(d: _dt.datetime, n: int) -> _dt.datetime:
    y, m = divmod(d.year * 12 + d.month - 1 + n, 12)
    y = min(max(y, 1), 9999)
    return d.replace(year=y, month=m + 1, day=min(d.day, _days_in_month(y, m + 1)))


def _months_between(a: _dt.datetime, b: _dt.datetime) -> int:
    """Largest n with a + n months <= b (month ends clamp: Jan 31 + 1 month = Feb 28/29)."""
    m = (b.year - a.year) * 12 + (b.month - a.month)
    if m > 0 and _add_months_py(a, m) > b:
        m -= 1
    elif m < 0 and _add_months_py(a, m) < b:
        m += 1
    return m


def _whole(a: _dt.datetime, b: _dt.datetime, unit: int) -> int:
    """Whole units from a to b, truncated toward zero."""
    if unit <= MONTH:
        m = _months_between(a, b)
        return m if unit == MONTH else int(m / 12)
    td = b - a
    ms = (td.days * 86_400_000) + td.seconds * 1000 + td.microseconds // 1000
    step = _MS[unit]
    q = abs(ms) // step
    return q if ms >= 0 else -q


def _truncate(d: _dt.datetime, unit: int) -> _dt.datetime:
    if unit == WEEK:
        d = d.replace(hour=0, minute=0, second=0, microsecond=0)
        return d - _dt.timedelta(days=(d.weekday() + 1) % 7)  # back to Sunday
    if unit == YEAR:
        return d.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    if unit == MONTH:
        return d.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if unit == DAY:
        return d.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == HOUR:
        return d.replace(minute=0, second=0, microsecond=0)
    if unit == MINUTE:
        return d.replace(second=0, microsecond=0)
    if unit == SECOND:
        return d.replace(microsecond=0)
    return d


def _shift_fields(f: list[int | None], p: int, value: Decimal | int, unit: str) -> list[int]:
    """Add ``value`` ``unit``s to calendar fields of precision ``p`` (index); see module doc."""
    u = unit_index(unit)
    if u is None:
        raise TemporalError(f"{unit!r} is not a time unit")
    v = value if isinstance(value, int) else Decimal(value)
    if u == WEEK:
        v, u = v * 7, DAY
    out = [x for x in f]
    if u <= MONTH:
        months = v * 12 if u == YEAR else v
        n_months = _trunc(months / 12) * 12 if p == YEAR else _trunc(months)
        return _add_months(out, n_months)  # type: ignore[arg-type]
    ms = v * _MS[u]
    if p <= MONTH:
        days = Decimal(ms) / _MS_PER_DAY
        n_months = _trunc(days / CALENDAR_DAYS[p]) * (12 if p == YEAR else 1)
        return _add_months(out, n_months)  # type: ignore[arg-type]
    if isinstance(ms, int):
        q = abs(ms) // _MS[p]
        n = q if ms >= 0 else -q
    else:
        n = _trunc(ms / _MS[p])
    full = [x if x is not None else m for x, m in zip(out, _MIN_FIELDS, strict=True)]
    try:
        d = _to_py(full) + _dt.timedelta(milliseconds=n * _MS[p])  # type: ignore[arg-type]
    except OverflowError as exc:
        raise TemporalError("date/time arithmetic result out of range") from exc
    res = _from_py(d)
    return [res[i] if f[i] is not None else None for i in range(7)]  # type: ignore[misc]


def _add_months(f: list[int | None], n: int) -> list[int | None]:
    total = f[YEAR] * 12 + ((f[MONTH] or 1) - 1) + n  # type: ignore[operator]
    y, m = divmod(total, 12)
    if not 1 <= y <= 9999:
        raise TemporalError("date/time arithmetic result out of range")
    f[YEAR] = y
    if f[MONTH] is not None:
        f[MONTH] = m + 1
        if f[DAY] is not None:
            f[DAY] = min(f[DAY], _days_in_month(y, m + 1))  # type: ignore[type-var]
    return f


_LIMITS = ((1, 9999), (1, 12), (1, 31), (0, 23), (0, 59), (0, 59), (0, 999))


def _validate(f: list[int | None], base: int, end: int) -> tuple:
    """Tuple of the leading non-null components, checked for range."""
    parts = []
    for i in range(base, end):
        x = f[i]
        if x is None:
            break
        parts.append(int(x))
    if not parts:
        raise TemporalError("a date/time value needs its most significant component")
    for i, x in enumerate(parts, start=base):
        lo, hi = _LIMITS[i]
        if i == DAY:
            hi = _days_in_month(parts[0], parts[1])
        if not lo <= x <= hi:
            raise TemporalError(f"{PRECISION_NAMES[i]} {x} out of range")
    return tuple(parts)


# ---------------------------------------------------------------------------------------------
_DT_RE = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?)?)?)?"
    r"(T)?(Z|[+-]\d{2}(?::?\d{2})?)?$"
)
_TIME_RE = re.compile(
    r"^T?(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?$"
)


def _ms(frac: str | None) -> int | None:
    if frac is None:
        return None
    return int((frac + "00")[:3])


def _tz(s: str | None) -> Decimal | None:
    if s is None:
        return None
    if s == "Z":
        return Decimal(0)
    sign = -1 if s[0] == "-" else 1
    body = s[1:].replace(":", "")
    hours = int(body[:2])
    minutes = int(body[2:4]) if len(body) > 2 else 0
    return sign * (Decimal(hours) + Decimal(minutes) / 60)


def _minutes(hours: Decimal) -> int:
    """An offset in hours as whole minutes (rounded: 1/3 hour is 20 minutes)."""
    return int((hours * 60).to_integral_value())


def _fmt_date(p: tuple) -> str:
    """Year, month and day as far as known: `2024`, `2024-06`, `2024-06-15`."""
    return "-".join([f"{p[0]:04d}", *(f"{x:02d}" for x in p[1:])])


def _fmt_time(p: tuple) -> str:
    """Hour, minute, second and millisecond as far as known: `14`, `14:30`, `14:30:05.120`."""
    s = f"{p[0]:02d}"
    if len(p) > 1:
        s += f":{p[1]:02d}"
    if len(p) > 2:
        s += f":{p[2]:02d}"
    if len(p) > 3:
        s += f".{p[3]:03d}"
    return s


def _fmt_tz(tz: Decimal) -> str:
    sign = "-" if tz < 0 else "+"
    total = int((abs(tz) * 60).to_integral_value())
    return f"{sign}{total // 60:02d}:{total % 60:02d}"


def _tz_decimal(tz: Any) -> Decimal | None:
    if tz is None:
        return None
    return tz if isinstance(tz, Decimal) else Decimal(str(tz))


@lru_cache(maxsize=8192)
def _parse_datetime(s: str, default_tz: Decimal | None) -> DateTime | None:
    m = _DT_RE.match(s.strip().lstrip("@"))
    if not m:
        return None
    g = m.groups()
    fields = [int(x) if x is not None else None for x in g[:6]]
    fields.append(_ms(g[6]))
    tz = _tz(g[8])
    if g[8] is not None and fields[HOUR] is None and g[7] is None and fields[DAY] is None:
        return None
    try:
        parts = _validate(fields, 0, 7)
    except TemporalError:
        return None
    return DateTime._make(parts, tz if tz is not None else default_tz)


class DateTime(_Temporal):
    """A CQL DateTime: up to 7 components and a timezone offset in hours (None: unspecified)."""

    __slots__ = ("_conv", "_utc", "tz")

    def __init__(
        self,
        year: int,
        month: int | None = None,
        day: int | None = None,
        hour: int | None = None,
        minute: int | None = None,
        second: int | None = None,
        millisecond: int | None = None,
        tz: Decimal | float | int | None = None,
    ) -> None:
        parts = _validate([year, month, day, hour, minute, second, millisecond], 0, 7)
        self.parts = parts
        self.tz = _tz_decimal(tz)
        self._utc: tuple | None = None
        self._conv: tuple | None = None

    @classmethod
    def _make(cls, parts: tuple, tz: Decimal | None) -> DateTime:
        obj = cls.__new__(cls)
        obj.parts = parts
        obj.tz = tz
        obj._utc = None
        obj._conv = None
        return obj

    @classmethod
    def parse(cls, s: str, default_tz: Decimal | None = None) -> DateTime | None:
        """An ISO 8601 / CQL / FHIR dateTime or instant string (None when malformed).

        Values are immutable, so parses are cached (FHIR data repeats the same strings).
        """
        return _parse_datetime(s, default_tz)

    @classmethod
    def from_python(cls, d: _dt.datetime) -> DateTime:
        """A millisecond-precision DateTime from an aware (or naive: no offset) datetime."""
        off = d.utcoffset()
        tz = None if off is None else Decimal(int(off.total_seconds())) / 3600
        return cls._make(tuple(_from_py(d)), tz)

    def to_python(self) -> _dt.datetime:
        """An aware datetime (missing components at their minimum; naive when no offset)."""
        d = _to_py(_min_fields(self.parts, 0))
        if self.tz is None:
            return d
        return d.replace(tzinfo=_dt.timezone(_dt.timedelta(minutes=_minutes(self.tz))))

    def _ident(self) -> tuple:
        return (self.parts, self.tz)

    # -- timezone ------------------------------------------------------------------------------
    def to_offset(self, tz: Decimal | None) -> DateTime:
        """The same instant at another offset (values without an hour keep their fields)."""
        if tz is None or self.tz is None or tz == self.tz:
            return self
        conv = self._conv
        if conv is not None and conv[0] == tz:
            return conv[1]
        if len(self.parts) <= HOUR:
            return DateTime._make(self.parts, tz)
        try:
            d = _to_py(_min_fields(self.parts, 0)) + _dt.timedelta(minutes=_minutes(tz - self.tz))
        except OverflowError as exc:
            raise TemporalError("timezone conversion out of range") from exc
        out = DateTime._make(tuple(_from_py(d)[: len(self.parts)]), tz)
        self._conv = (tz, out)  # the last conversion: values meet the same offset repeatedly
        return out

    def _utc_key(self) -> tuple:
        """Components at offset 0 (cached; only for values with an hour and an offset)."""
        k = self._utc
        if k is None:
            k = self._utc = self.to_offset(Decimal(0)).parts
        return k

    def _pair(self, other: Any) -> tuple[tuple, tuple] | None:
        """Components at a common offset. Values with an hour on both sides compare in UTC;
        otherwise the value with an hour moves to the offset of the one without (whose
        calendar fields cannot move): 1941-01-01T00:00+02:00 against '1940' at +00:00 is
        1940-12-31T22:00, inside that year. A value without an offset takes the other's."""
        if type(other) is DateTime:
            ta, tb = self.tz, other.tz
            if ta is tb or ta is None or tb is None or ta == tb:
                return self.parts, other.parts
            fine_a = len(self.parts) > HOUR
            fine_b = len(other.parts) > HOUR
            try:
                if fine_a and fine_b:
                    return self._utc_key(), other._utc_key()
                if fine_b:
                    return self.parts, other.to_offset(ta).parts
                if fine_a:
                    return self.to_offset(tb).parts, other.parts
            except TemporalError:  # at the edges of year 1/9999: compare local fields
                pass
            return self.parts, other.parts
        if type(other) is Date:
            return self.parts, other.parts
        return None

    # -- arithmetic -------------------------------------------------------------------------------
    def _shift(self, value: Decimal | int, unit: str) -> DateTime:
        f = _shift_fields(self._fields(), self.precision, value, unit)
        return DateTime._make(tuple(f[: len(self.parts)]), self.tz)

    def _bounds(self, unit: int) -> tuple[_dt.datetime, _dt.datetime]:
        parts = self.parts
        if len(parts) == SECOND + 1 and unit != MILLISECOND:
            parts = (*parts, 0)
        return _to_py(_min_fields(parts, 0)), _to_py(_max_fields(parts, 0))

    def _other_bounds(
        self, other: Any, unit: int, normalise: bool
    ) -> tuple[_dt.datetime, _dt.datetime]:
        if isinstance(other, Date):
            other = other.to_datetime(self.tz)
        lo, hi = other._bounds(unit)
        if normalise and self.tz is not None and other.tz is not None and other.tz != self.tz:
            shift = _dt.timedelta(minutes=_minutes(self.tz - other.tz))
            try:
                lo, hi = lo + shift, hi + shift
            except OverflowError as exc:
                raise TemporalError("timezone conversion out of range") from exc
        return lo, hi

    # -- conversions ------------------------------------------------------------------------------
    def date(self) -> Date:
        return Date._make(self.parts[:3])

    def time(self) -> Time | None:
        return Time._make(self.parts[3:]) if len(self.parts) > HOUR else None

    def _replace_parts(self, parts: tuple) -> DateTime:
        return DateTime._make(parts, self.tz)

    def _with_fields(self, f: list[int], precision: int) -> DateTime:
        return DateTime._make(tuple(f[: precision + 1]), self.tz)

    def __str__(self) -> str:
        p = self.parts
        s = _fmt_date(p[:3])
        if len(p) > 3:
            s += "T" + _fmt_time(p[3:])
            if self.tz is not None:
                s += _fmt_tz(self.tz)
        return s

    def __repr__(self) -> str:
        return f"@{self}" if len(self.parts) > 3 else f"@{self}T"


class Date(_Temporal):
    """A CQL Date: year, month and day components (no time, no timezone)."""

    __slots__ = ()
    _max_precision = DAY

    def __init__(self, year: int, month: int | None = None, day: int | None = None) -> None:
        parts = _validate([year, month, day, None, None, None, None], 0, 3)
        self.parts = parts

    @classmethod
    def _make(cls, parts: tuple) -> Date:
        obj = cls.__new__(cls)
        obj.parts = parts
        return obj

    @classmethod
    def parse(cls, s: str) -> Date | None:
        m = _DT_RE.match(s.strip().lstrip("@"))
        if not m or m.group(4) is not None or m.group(9) is not None:
            return None
        g = m.groups()
        try:
            parts = _validate([int(x) if x else None for x in g[:3]] + [None] * 4, 0, 3)
        except TemporalError:
            return None
        return cls._make(parts)

    def _pair(self, other: Any) -> tuple[tuple, tuple] | None:
        if type(other) is Date or type(other) is DateTime:  # as ToDateTime(self) would compare
            return self.parts, other.parts
        return None

    def _shift(self, value: Decimal | int, unit: str) -> Date:
        u = unit_index(unit)
        if u is not None and HOUR <= u <= MILLISECOND:
            raise TemporalError(f"a Date cannot be shifted by {unit!r} (days or coarser only)")
        f = _shift_fields(self._fields(), self.precision, value, unit)
        return Date._make(tuple(f[: len(self.parts)]))

    def _bounds(self, unit: int) -> tuple[_dt.datetime, _dt.datetime]:
        hi = _max_fields(self.parts, 0)
        hi[3:] = [0, 0, 0, 0]
        return _to_py(_min_fields(self.parts, 0)), _to_py(hi)

    def _other_bounds(
        self, other: Any, unit: int, normalise: bool
    ) -> tuple[_dt.datetime, _dt.datetime]:
        if isinstance(other, DateTime):
            other = other.date()
        return other._bounds(unit)

    def to_datetime(self, tz: Decimal | None = None) -> DateTime:
        """ToDateTime(Date): same components, the given (evaluation) offset."""
        return DateTime._make(self.parts, tz)

    def _replace_parts(self, parts: tuple) -> Date:
        return Date._make(parts)

    def _with_fields(self, f: list[int], precision: int) -> Date:
        return Date._make(tuple(f[: min(precision, DAY) + 1]))

    def __str__(self) -> str:
        return _fmt_date(self.parts)


class Time(_Temporal):
    """A CQL Time: hour, minute, second and millisecond components."""

    __slots__ = ()
    _base = HOUR

    def __init__(
        self,
        hour: int,
        minute: int | None = None,
        second: int | None = None,
        millisecond: int | None = None,
    ) -> None:
        parts = _validate([None, None, None, hour, minute, second, millisecond], HOUR, 7)
        self.parts = parts

    @classmethod
    def _make(cls, parts: tuple) -> Time:
        obj = cls.__new__(cls)
        obj.parts = parts
        return obj

    @classmethod
    def parse(cls, s: str) -> Time | None:
        m = _TIME_RE.match(s.strip().lstrip("@"))
        if not m:
            return None
        g = m.groups()
        fields: list[int | None] = [None, None, None]
        fields += [int(x) if x is not None else None for x in g[:3]]
        fields.append(_ms(g[3]))
        try:
            return cls._make(_validate(fields, HOUR, 7))
        except TemporalError:
            return None

    @classmethod
    def from_python(cls, t: _dt.time | _dt.datetime) -> Time:
        return cls._make((t.hour, t.minute, t.second, t.microsecond // 1000))

    def _fields(self) -> list[int | None]:
        f: list[int | None] = [2000, 1, 1, None, None, None, None]
        f[HOUR : HOUR + len(self.parts)] = self.parts
        return f

    def _shift(self, value: Decimal | int, unit: str) -> Time:
        u = unit_index(unit)
        if u is None:
            raise TemporalError(f"{unit!r} is not a time unit")
        if u < HOUR or u == WEEK:
            raise TemporalError(f"a Time cannot be shifted by {unit!r} (hours or finer only)")
        p = self.precision
        v = value if isinstance(value, int) else Decimal(value)
        n = _trunc(Decimal(v * _MS[u]) / _MS[p])
        f = _min_fields(self.parts, HOUR)
        now_ms = ((f[3] * 60 + f[4]) * 60 + f[5]) * 1000 + f[6]
        total = (now_ms + n * _MS[p]) % _MS_PER_DAY
        ms = total % 1000
        s = total // 1000
        full = (s // 3600, (s // 60) % 60, s % 60, ms)
        return Time._make(full[: len(self.parts)])

    def successor(self) -> Time:
        if self.parts == MAX_TIME.parts[: len(self.parts)]:
            raise TemporalError("successor of the maximum Time")
        return super().successor()

    def predecessor(self) -> Time:
        if self.parts == MIN_TIME.parts[: len(self.parts)]:
            raise TemporalError("predecessor of the minimum Time")
        return super().predecessor()

    def _bounds(self, unit: int) -> tuple[_dt.datetime, _dt.datetime]:
        parts = self.parts
        if len(parts) == 3 and unit != MILLISECOND:
            parts = (*parts, 0)
        lo = _min_fields(parts, HOUR)
        hi = _max_fields(parts, HOUR)
        lo[:3] = hi[:3] = [2000, 1, 1]
        return _to_py(lo), _to_py(hi)

    def _replace_parts(self, parts: tuple) -> Time:
        return Time._make(parts)

    def _with_fields(self, f: list[int], precision: int) -> Time:
        return Time._make(tuple(f[HOUR : max(precision, HOUR) + 1]))

    def __str__(self) -> str:
        return _fmt_time(self.parts)

    def __repr__(self) -> str:
        return f"@T{self}"


MIN_DATETIME = DateTime._make((1, 1, 1, 0, 0, 0, 0), None)
MAX_DATETIME = DateTime._make((9999, 12, 31, 23, 59, 59, 999), None)
MIN_DATE = Date._make((1, 1, 1))
MAX_DATE = Date._make((9999, 12, 31))
MIN_TIME = Time._make((0, 0, 0, 0))
MAX_TIME = Time._make((23, 59, 59, 999))
