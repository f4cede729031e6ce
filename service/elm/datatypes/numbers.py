"""CQL Integer, Long and Decimal on Python numbers.

Integer is `int` (32-bit range), Long is the `Long` subclass of `int` (64-bit range) so that
type tests and ToString can tell them apart, Decimal is `decimal.Decimal` limited to the CQL
range (28 significant digits, 8 decimal places). Results outside a type's range are null
(CQL 1.5 §22.1: "If the result of the operation cannot be represented, the result is null").
"""

from __future__ import annotations

import decimal
from decimal import ROUND_HALF_UP, Decimal

INT_MIN = -(2**31)
INT_MAX = 2**31 - 1
LONG_MIN = -(2**63)
LONG_MAX = 2**63 - 1

#: Arithmetic context: enough precision that rounding to 8 places happens only once, at the end.
DECIMAL_CONTEXT = decimal.Context(prec=60, rounding=ROUND_HALF_UP, Emax=999999, Emin=-999999)
#: Largest Decimal literal: |x| < 10^28 with 8 places (the conformance tests' limit).
#: (Negative constants are written out: unary minus would round to the default 28 digits.)
DECIMAL_MAX = Decimal("9999999999999999999999999999.99999999")
DECIMAL_MIN = Decimal("-9999999999999999999999999999.99999999")
#: Results of arithmetic may reach 10^28 itself before a final step brings them back (as in
#: the cql-tests `10 * 10^27 - 0.00000001`); beyond that they are null.
_RESULT_LIMIT = Decimal("10000000000000000000000000000")
DECIMAL_STEP = Decimal("0.00000001")
#: `maximum Decimal` / `minimum Decimal` as the CQL specification and reference engine define them.
DECIMAL_MAX_VALUE = Decimal("99999999999999999999.99999999")
DECIMAL_MIN_VALUE = Decimal("-99999999999999999999.99999999")
_QUANTUM = DECIMAL_STEP


class Long(int):
    """A CQL Long: an `int` that remembers it is a Long (arithmetic re-wraps results)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"{int(self)}L"


def check_int(v: int) -> int | None:
    """An Integer result, or null when it overflows 32 bits."""
    return v if INT_MIN <= v <= INT_MAX else None


def check_long(v: int) -> Long | None:
    """A Long result, or null when it overflows 64 bits."""
    return Long(v) if LONG_MIN <= v <= LONG_MAX else None


def check_decimal(v: Decimal) -> Decimal | None:
    """Round to CQL's 8 decimal places; null when outside the CQL Decimal range."""
    if not v.is_finite():
        return None
    if v.as_tuple().exponent < -8:  # type: ignore[operator]
        v = v.quantize(_QUANTUM, rounding=ROUND_HALF_UP, context=DECIMAL_CONTEXT)
    if abs(v) > _RESULT_LIMIT:
        return None
    return v


def to_decimal(v: int | float | str | Decimal) -> Decimal:
    """A Decimal from JSON numbers (floats go through their shortest repr, never binary)."""
    if isinstance(v, Decimal):
        return v
    if isinstance(v, float):
        return Decimal(repr(v))
    return Decimal(v)


def decimal_to_string(v: Decimal) -> str:
    """CQL ToString of a Decimal: plain notation, no exponent, trailing zeros kept."""
    s = format(v, "f")
    return s
