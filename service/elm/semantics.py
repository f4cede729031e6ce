"""CQL equality (``=``), equivalence (``~``) and ordering, the single entry points of the engine.

Every comparison operator goes through :func:`equal`, :func:`equivalent` or :func:`compare`.
They handle null, Boolean, Integer/Long/Decimal (mixed freely), String, List and Tuple (and
FHIR JSON dicts) here and defer to the value protocol for every other datatype:

- ``cql_equal(other) -> bool | None``
- ``cql_equivalent(other) -> bool``
- ``cql_compare(other) -> int | None`` (ordered types only)

Rules (CQL 1.5, Comparison Operators):
- ``=`` is null when either side is null; lists and tuples compare element by element in order
  and answer with the first element that is not equal (two nulls at the same position are
  equal, a single null is unknown), as the reference engines do.
- ``~`` is never null: null ~ null is true, null ~ x is false. Strings ignore case and treat all
  whitespace characters alike; Decimals compare at the precision of the less precise operand
  (trailing zeros do not count).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any

from service.elm.datatypes.uncertainty import Uncertainty

_NUMBER = (int, Decimal)
_CTX = Context(prec=80, rounding=ROUND_HALF_UP)
_WS_TABLE = {ord(c): " " for c in "\t\n\r\f\v\u00a0\u2028\u2029"}


def _is_number(x: Any) -> bool:
    return isinstance(x, _NUMBER) and not isinstance(x, bool)


def equal(a: Any, b: Any) -> bool | None:
    """CQL ``=``: true, false, or None when either side is null or the answer is uncertain."""
    if a is None or b is None:
        return None
    ta = type(a)
    if ta is type(b):
        if ta is int or ta is str or ta is bool or ta is Decimal:
            return a == b
        fn = getattr(ta, "cql_equal", None)
        if fn is not None:
            return fn(a, b)
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return a == b
    if isinstance(a, list):
        if not isinstance(b, list):
            return False
        return _equal_sequences(a, b)
    if isinstance(a, dict):
        if not isinstance(b, dict):
            return False
        return _equal_dicts(a, b)
    fn = getattr(a, "cql_equal", None)
    if fn is not None:
        return fn(b)
    fn = getattr(b, "cql_equal", None)
    if fn is not None:
        return fn(a)
    return a == b


def _equal_members(x: Any, y: Any) -> bool | None:
    if x is None and y is None:
        return True
    if x is None or y is None:
        return None
    return equal(x, y)


def _equal_sequences(a: list, b: list) -> bool | None:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        r = _equal_members(x, y)
        if r is not True:
            return r
    return True


def _equal_dicts(a: dict, b: dict) -> bool | None:
    if a.keys() != b.keys():
        return False
    for k, x in a.items():
        r = _equal_members(x, b[k])
        if r is not True:
            return r
    return True


def _normalise_string(s: str) -> str:
    return s.translate(_WS_TABLE).casefold()


def _decimal_places(d: Decimal) -> int:
    """Significant decimal places of a Decimal, ignoring trailing zeros."""
    if not d.is_finite():
        return 0
    exp = d.normalize().as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 0


def decimal_equivalent(a: Decimal | int, b: Decimal | int) -> bool:
    """Equivalence of two numbers at the precision of the less precise one."""
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    da, db = Decimal(a), Decimal(b)
    places = min(_decimal_places(da), _decimal_places(db))
    q = Decimal(1).scaleb(-places)
    return da.quantize(q, context=_CTX) == db.quantize(q, context=_CTX)


def equivalent(a: Any, b: Any) -> bool:
    """CQL ``~``: never null."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, str) or isinstance(b, str):
        return (
            isinstance(a, str)
            and isinstance(b, str)
            and (a == b or _normalise_string(a) == _normalise_string(b))
        )
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return decimal_equivalent(a, b)
    if isinstance(a, list):
        if not isinstance(b, list) or len(a) != len(b):
            return False
        return all(equivalent(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        if not isinstance(b, dict):
            return False
        return all(equivalent(a.get(k), b.get(k)) for k in a.keys() | b.keys())
    fn = getattr(a, "cql_equivalent", None)
    if fn is not None:
        return bool(fn(b))
    fn = getattr(b, "cql_equivalent", None)
    if fn is not None:
        return bool(fn(a))
    return a == b


def compare(a: Any, b: Any) -> int | None:
    """CQL ordering: -1, 0 or 1, or None when either side is null or the order is uncertain."""
    if a is None or b is None:
        return None
    ta = type(a)
    if ta is type(b):
        if ta is int or ta is str or ta is Decimal:
            return -1 if a < b else (1 if a > b else 0)
        fn = getattr(ta, "cql_compare", None)
        if fn is not None:
            return fn(a, b)
    if _is_number(a) and _is_number(b):
        return -1 if a < b else (1 if a > b else 0)
    if isinstance(a, str) and isinstance(b, str):
        return -1 if a < b else (1 if a > b else 0)
    fn = getattr(a, "cql_compare", None)
    if fn is not None:
        return fn(b)
    fn = getattr(b, "cql_compare", None)
    if fn is not None:
        r = fn(a)
        return None if r is None else -r
    if isinstance(a, bool) and isinstance(b, bool):
        return (a > b) - (a < b)
    raise TypeError(f"CQL values of types {ta.__name__} and {type(b).__name__} are not ordered")


def _bounds(x: Any) -> tuple[Any, Any]:
    return (x.low, x.high) if isinstance(x, Uncertainty) else (x, x)


def _lowest_vs_highest(a: Any, b: Any) -> int | None:
    """compare(smallest possible a, largest possible b): for uncertainties, whose ranges
    may touch (``[18, 19] >= 18`` is true although ``compare`` is null)."""
    return compare(_bounds(a)[0], _bounds(b)[1])


def _uncertain(a: Any, b: Any) -> bool:
    return isinstance(a, Uncertainty) or isinstance(b, Uncertainty)


def less(a: Any, b: Any) -> bool | None:
    r = compare(a, b)
    if r is not None:
        return r < 0
    if _uncertain(a, b):
        c = _lowest_vs_highest(a, b)
        if c is not None and c >= 0:
            return False
    return None


def less_or_equal(a: Any, b: Any) -> bool | None:
    r = compare(a, b)
    if r is not None:
        return r <= 0
    if _uncertain(a, b):
        c = _lowest_vs_highest(b, a)
        if c is not None and c >= 0:
            return True
    return None


def greater(a: Any, b: Any) -> bool | None:
    r = compare(a, b)
    if r is not None:
        return r > 0
    if _uncertain(a, b):
        c = _lowest_vs_highest(b, a)
        if c is not None and c >= 0:
            return False
    return None


def greater_or_equal(a: Any, b: Any) -> bool | None:
    r = compare(a, b)
    if r is not None:
        return r >= 0
    if _uncertain(a, b):
        c = _lowest_vs_highest(a, b)
        if c is not None and c >= 0:
            return True
    return None
