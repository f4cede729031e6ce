"""CQL Quantity and Ratio.

A Quantity is a Decimal value with a UCUM unit (or a CQL calendar duration keyword such as
``year`` or ``days``). Comparisons convert the right-hand side into the unit of the left-hand
side (:mod:`service.elm.datatypes.ucum`); quantities whose units cannot be converted are not
comparable (null). Calendar ``year``/``month`` are not definite durations: comparing them with
anything but another calendar year/month is null for ``=``; for ``~`` and conversions they use
calendar semantics against calendar days or finer (``1 year ~ 365 days``, ``1 month ~ 30 days``)
and ``'a'``/``'mo'`` otherwise (``1 year ~ 1 'a'``). The units come from :mod:`service.elm.units`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from service.elm.datatypes import ucum
from service.elm.datatypes.numbers import check_decimal, decimal_to_string, to_decimal
from service.elm.semantics import decimal_equivalent
from service.elm.units import CALENDAR_TO_UCUM, VARIABLE_CALENDAR, calendar_factor

#: CQL calendar duration keywords and the UCUM unit used to convert them (the one table).
CALENDAR_UNITS = CALENDAR_TO_UCUM
_VARIABLE = VARIABLE_CALENDAR
_STEP = Decimal("0.00000001")


def _ucum(unit: str) -> str:
    return CALENDAR_UNITS.get(unit, unit)


def _convert(value: Decimal, from_unit: str, to_unit: str) -> Decimal | None:
    """``value`` from one unit to another: calendar semantics between a calendar year/month and
    calendar days or finer (1 year = 365 days), UCUM otherwise ('a' is a Julian year)."""
    factor = calendar_factor(from_unit, to_unit)
    if factor is not None:
        return value * factor
    return ucum.convert(value, _ucum(from_unit), _ucum(to_unit))


class Quantity:
    """A CQL Quantity: ``value`` (Decimal) and ``unit`` (UCUM or calendar keyword; '1' if none)."""

    __slots__ = ("unit", "value")

    def __init__(self, value: Decimal | int | float | str, unit: str | None = "1") -> None:
        self.value = value if isinstance(value, Decimal) else to_decimal(value)
        self.unit = unit or "1"

    # -- conversion ------------------------------------------------------------------------------
    def convert(self, unit: str) -> Quantity | None:
        """This quantity in another unit (None when the units are not convertible)."""
        v = _convert(self.value, self.unit, unit)
        if v is None:
            return None
        v = check_decimal(v)
        return None if v is None else Quantity(v, unit)

    def can_convert(self, unit: str) -> bool:
        return ucum.convertible(_ucum(self.unit), _ucum(unit))

    def _value_of(self, other: Quantity) -> Decimal | None:
        """``other``'s value expressed in this quantity's unit."""
        if other.unit == self.unit:
            return other.value
        return _convert(other.value, other.unit, self.unit)

    # -- value protocol --------------------------------------------------------------------------
    def cql_compare(self, other: Any) -> int | None:
        if not isinstance(other, Quantity):
            return None
        v = self._value_of(other)
        if v is None:
            return None
        return -1 if self.value < v else (1 if self.value > v else 0)

    def cql_equal(self, other: Any) -> bool | None:
        if not isinstance(other, Quantity):
            return None
        if self.unit != other.unit and (self.unit in _VARIABLE) != (other.unit in _VARIABLE):
            return None
        v = self._value_of(other)
        if v is None:
            return None
        return self.value == v

    def cql_equivalent(self, other: Any) -> bool:
        if not isinstance(other, Quantity):
            return False
        v = self._value_of(other)
        return v is not None and decimal_equivalent(self.value, v)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Quantity) and self.value == other.value and self.unit == other.unit

    def __hash__(self) -> int:
        return hash((self.value, self.unit))

    def __str__(self) -> str:
        return f"{decimal_to_string(self.value)} '{self.unit}'"

    def __repr__(self) -> str:
        return f"Quantity({self.value!s}, {self.unit!r})"

    # -- arithmetic ------------------------------------------------------------------------------
    def _make(self, value: Decimal | None, unit: str | None = None) -> Quantity | None:
        if value is None:
            return None
        v = check_decimal(value)
        return None if v is None else Quantity(v, unit or self.unit)

    def _common(self, other: Quantity) -> tuple[Decimal, Decimal, str] | None:
        """Both values in the finer of the two units (as cql-execution: 1 'g' + 1 'mg' is
        1001 'mg'); None when the units do not convert."""
        if other.unit == self.unit:
            return self.value, other.value, self.unit
        finer = _finer_unit(self.unit, other.unit)
        if finer == self.unit:
            v = self._value_of(other)
            return None if v is None else (self.value, v, self.unit)
        v = other._value_of(self)
        return None if v is None else (v, other.value, other.unit)

    def add(self, other: Any) -> Quantity | None:
        if not isinstance(other, Quantity):
            return None
        c = self._common(other)
        return None if c is None else self._make(c[0] + c[1], c[2])

    def subtract(self, other: Any) -> Quantity | None:
        if not isinstance(other, Quantity):
            return None
        c = self._common(other)
        return None if c is None else self._make(c[0] - c[1], c[2])

    def multiply(self, other: Any) -> Quantity | None:
        if isinstance(other, Quantity):
            if other.unit != self.unit and self.unit != "1" and self.can_convert(other.unit):
                v = self._value_of(other)  # like dimensions: express in this unit first
                if v is not None:
                    return self._make(self.value * v, multiply_units(self.unit, self.unit))
            return self._make(self.value * other.value, multiply_units(self.unit, other.unit))
        return self._make(self.value * Decimal(other))

    rmultiply = multiply

    def divide(self, other: Any) -> Quantity | None:
        if isinstance(other, Quantity):
            if other.value == 0:
                return None
            if self.unit == other.unit or self.can_convert(other.unit):
                v = self._value_of(other)
                if v is not None and v != 0:
                    return self._make(self.value / v, "1")
            return self._make(self.value / other.value, divide_units(self.unit, other.unit))
        if other == 0:
            return None
        return self._make(self.value / Decimal(other))

    def rdivide(self, other: Any) -> Quantity | None:
        """``number / self``."""
        if self.value == 0:
            return None
        return self._make(Decimal(other) / self.value, divide_units("1", self.unit))

    def truncated_divide(self, other: Any) -> Quantity | None:
        v = self._value_of(other) if isinstance(other, Quantity) else Decimal(other)
        if v is None or v == 0:
            return None
        return self._make(Decimal(int(self.value / v)))

    def modulo(self, other: Any) -> Quantity | None:
        v = self._value_of(other) if isinstance(other, Quantity) else Decimal(other)
        if v is None or v == 0:
            return None
        return self._make(self.value % v)

    def negate(self) -> Quantity:
        return Quantity(-self.value, self.unit)

    def abs(self) -> Quantity:
        return Quantity(abs(self.value), self.unit)

    def successor(self) -> Quantity | None:
        return self._make(self.value + _STEP)

    def predecessor(self) -> Quantity | None:
        return self._make(self.value - _STEP)


def _finer_unit(a: str, b: str) -> str:
    """The unit with the smaller magnitude (the left one when not comparable)."""
    try:
        ua, ub = ucum.parse_unit(_ucum(a)), ucum.parse_unit(_ucum(b))
    except (ucum.UcumError, ArithmeticError):
        return a
    if ua.special or ub.special or ua.dims != ub.dims:
        return a
    return b if ub.factor < ua.factor else a


def _terms(unit: str) -> dict[str, int] | None:
    """A simple unit as {atom: exponent} (None when it has annotations or parentheses)."""
    if unit == "1":
        return {}
    if any(c in unit for c in "({"):
        return None
    try:
        parts = ucum._split(unit)
    except ucum.UcumError:
        return None
    out: dict[str, int] = {}
    for op, comp in parts:
        m = ucum._EXP_RE.match(comp)
        base, exp = (m.group(1), int(m.group(2))) if m and not comp.endswith("]") else (comp, 1)
        if base.isdigit():
            return None
        out[base] = out.get(base, 0) + (exp if op == "." else -exp)
    return out


def _format_terms(terms: dict[str, int]) -> str:
    def one(k: str, e: int) -> str:
        return k if e == 1 else f"{k}{e}"

    pos = [one(k, e) for k, e in terms.items() if e > 0]
    neg = [one(k, -e) for k, e in terms.items() if e < 0]
    s = ".".join(pos) if pos else ("" if neg else "1")
    for n in neg:
        s += "/" + n
    return s


def multiply_units(a: str, b: str) -> str:
    if a == "1":
        return b
    if b == "1":
        return a
    ta, tb = _terms(_ucum(a)), _terms(_ucum(b))
    if ta is None or tb is None:
        return f"({a}).({b})"
    for k, e in tb.items():
        ta[k] = ta.get(k, 0) + e
    return _format_terms({k: e for k, e in ta.items() if e})


def divide_units(a: str, b: str) -> str:
    if b == "1":
        return a
    ta, tb = _terms(_ucum(a)), _terms(_ucum(b))
    if ta is None or tb is None:
        return f"({a})/({b})"
    for k, e in tb.items():
        ta[k] = ta.get(k, 0) - e
    return _format_terms({k: e for k, e in ta.items() if e})


class Ratio:
    """A CQL Ratio of two quantities."""

    __slots__ = ("denominator", "numerator")

    def __init__(self, numerator: Quantity, denominator: Quantity) -> None:
        self.numerator = numerator
        self.denominator = denominator

    def cql_equal(self, other: Any) -> bool | None:
        if not isinstance(other, Ratio):
            return None
        n = self.numerator.cql_equal(other.numerator)
        d = self.denominator.cql_equal(other.denominator)
        if n is False or d is False:
            return False
        if n is None or d is None:
            return None
        return True

    def cql_equivalent(self, other: Any) -> bool:
        if not isinstance(other, Ratio):
            return False
        n2 = self.numerator._value_of(other.numerator)
        d2 = self.denominator._value_of(other.denominator)
        if n2 is None or d2 is None:
            return False
        return self.numerator.value * d2 == n2 * self.denominator.value

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Ratio)
            and self.numerator == other.numerator
            and self.denominator == other.denominator
        )

    def __hash__(self) -> int:
        return hash((self.numerator, self.denominator))

    def __str__(self) -> str:
        return f"{self.numerator}:{self.denominator}"

    def __repr__(self) -> str:
        return f"Ratio({self.numerator!r}, {self.denominator!r})"
