"""CQL uncertainty: the result of date/time arithmetic on values of partial precision.

``days between @2014-01-15 and DateTime(2014, 2)`` is not one number but a range of possible
answers; CQL represents it as an uncertainty ``[low, high]`` that behaves like an Integer whose
exact value is unknown: comparisons are definite only when the whole range is on one side, and
arithmetic combines the ranges.
"""

from __future__ import annotations

from typing import Any

from service.elm.errors import CqlError


class Uncertainty:
    """An integer known only to lie between ``low`` and ``high`` (inclusive)."""

    __slots__ = ("high", "low")

    def __init__(self, low: int, high: int) -> None:
        if high < low:
            low, high = high, low
        self.low = low
        self.high = high

    @staticmethod
    def of(low: int, high: int) -> int | Uncertainty:
        """The plain integer when the range is a single point, else the uncertainty."""
        return low if low == high else Uncertainty(low, high)

    @property
    def is_point(self) -> bool:
        return self.low == self.high

    def __repr__(self) -> str:
        return f"Uncertainty({self.low}, {self.high})"

    def __str__(self) -> str:
        return f"[{self.low}, {self.high}]"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Uncertainty) and self.low == other.low and self.high == other.high

    def __hash__(self) -> int:
        return hash((Uncertainty, self.low, self.high))

    # -- value protocol --------------------------------------------------------------------
    def cql_compare(self, other: Any) -> int | None:
        lo, hi = _bounds(other)
        if lo is None or hi is None:
            return None
        if self.high < lo:
            return -1
        if self.low > hi:
            return 1
        if self.low == self.high == lo == hi:
            return 0
        return None

    def cql_equal(self, other: Any) -> bool | None:
        lo, hi = _bounds(other)
        if lo is None or hi is None:
            return None
        if self.high < lo or self.low > hi:
            return False
        if self.low == self.high == lo == hi:
            return True
        return None

    def cql_equivalent(self, other: Any) -> bool:
        lo, hi = _bounds(other)
        return lo == self.low and hi == self.high

    # -- arithmetic ------------------------------------------------------------------------
    def add(self, other: Any) -> int | Uncertainty | None:
        lo, hi = _bounds(other)
        if lo is None or hi is None:
            return None
        return Uncertainty.of(self.low + lo, self.high + hi)

    def subtract(self, other: Any) -> int | Uncertainty | None:
        lo, hi = _bounds(other)
        if lo is None or hi is None:
            return None
        return Uncertainty.of(self.low - hi, self.high - lo)

    def rsubtract(self, other: Any) -> int | Uncertainty | None:
        """``other - self``."""
        lo, hi = _bounds(other)
        if lo is None or hi is None:
            return None
        return Uncertainty.of(lo - self.high, hi - self.low)

    def multiply(self, other: Any) -> int | Uncertainty | None:
        lo, hi = _bounds(other)
        if lo is None or hi is None:
            return None
        products = (self.low * lo, self.low * hi, self.high * lo, self.high * hi)
        return Uncertainty.of(min(products), max(products))

    def truncated_divide(self, other: Any) -> int | Uncertainty | None:
        """``self div other`` for an integer divisor (null for 0); an uncertain divisor is an
        error."""
        lo, hi = _bounds(other)
        if lo is None or hi is None:
            return None
        if lo != hi:
            raise CqlError("division by an uncertain value is not defined")
        if lo == 0:
            return None
        qs = (_tdiv(self.low, lo), _tdiv(self.high, lo))
        return Uncertainty.of(min(qs), max(qs))

    def abs(self) -> int | Uncertainty:
        if self.low >= 0:
            return self
        if self.high <= 0:
            return Uncertainty.of(-self.high, -self.low)
        return Uncertainty.of(0, max(-self.low, self.high))

    def negate(self) -> Uncertainty:
        return Uncertainty(-self.high, -self.low)

    # Python ordering against plain numbers means "every possible value" (used by range checks
    # such as ``INT_MIN <= r <= INT_MAX`` in generic arithmetic code).
    def __le__(self, other: Any) -> bool:
        return self.high <= _bounds(other)[0]

    def __lt__(self, other: Any) -> bool:
        return self.high < _bounds(other)[0]

    def __ge__(self, other: Any) -> bool:
        return self.low >= _bounds(other)[1]

    def __gt__(self, other: Any) -> bool:
        return self.low > _bounds(other)[1]

    radd = add
    rmultiply = multiply
    __add__ = __radd__ = add
    __sub__ = subtract
    __rsub__ = rsubtract
    __mul__ = __rmul__ = multiply
    __neg__ = negate


def _tdiv(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _bounds(x: Any) -> tuple[Any, Any]:
    """(low, high) of an uncertainty, a number, or an interval [low, high]."""
    if x is None:
        return None, None
    if isinstance(x, Uncertainty):
        return x.low, x.high
    if isinstance(x, int | float) or hasattr(x, "as_tuple"):
        return x, x
    low = getattr(x, "low", None)
    high = getattr(x, "high", None)
    if low is not None and high is not None:
        if not getattr(x, "low_closed", True):
            low += 1
        if not getattr(x, "high_closed", True):
            high -= 1
        return low, high
    return None, None
