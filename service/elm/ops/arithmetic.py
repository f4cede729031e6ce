"""Arithmetic on Integer, Long, Decimal and (by delegation) Quantity and temporal values.

Integer results outside 32 bits and Long results outside 64 bits are null; Decimal results are
rounded to 8 places and null outside the CQL range. Quantity, Date/DateTime/Time arithmetic is
delegated to the datatype methods (`add`, `subtract`, `multiply`, `divide`, `negate`, ...)
owned by the temporal/quantity modules. When the translator's signature says both operands
are Integers (the common case), a specialised closure without type tests is used.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from service.elm.compiler import Compiler, Evaluator, constant, spec_name, split_type
from service.elm.datatypes import temporal
from service.elm.datatypes.numbers import (
    DECIMAL_CONTEXT,
    DECIMAL_MAX,
    DECIMAL_MAX_VALUE,
    DECIMAL_MIN,
    DECIMAL_MIN_VALUE,
    DECIMAL_STEP,
    INT_MAX,
    INT_MIN,
    LONG_MAX,
    LONG_MIN,
    Long,
    check_decimal,
    check_int,
    check_long,
)
from service.elm.datatypes.temporal import DateTime, Time
from service.elm.errors import CqlError, ElmLoadError
from service.elm.ops.literals import literal_evaluator, literal_value
from service.elm.registry import null_propagating, operator

D = DECIMAL_CONTEXT


def _signature(node: dict) -> list[str | None]:
    return [spec_name(s) for s in node.get("signature") or []]


def _binary(
    name: str,
    int_op: Callable[[int, int], Any],
    dec_op: Callable[[Decimal, Decimal], Any],
    method: str,
) -> Callable[[dict, Compiler], Evaluator]:
    def compile_fn(node: dict, c: Compiler) -> Evaluator:
        a, b = c.compile_operands(node)

        def fn(ctx: Any) -> Any:
            x = a(ctx)
            if x is None:
                return None
            y = b(ctx)
            if y is None:
                return None
            return apply(x, y)

        def apply(x: Any, y: Any) -> Any:
            if isinstance(x, Decimal) or isinstance(y, Decimal):
                if isinstance(x, (int, Decimal)) and isinstance(y, (int, Decimal)):
                    r = dec_op(Decimal(x), Decimal(y))
                    return None if r is None else check_decimal(r)
            elif isinstance(x, int) and isinstance(y, int) and not isinstance(x, bool):
                r = int_op(x, y)
                if r is None:
                    return None
                if isinstance(r, Decimal):
                    return check_decimal(r)
                if isinstance(x, Long) or isinstance(y, Long):
                    return check_long(r)
                return check_int(r)
            if not isinstance(x, (int, Decimal)):
                m = getattr(x, method, None)
                if m is not None:
                    return m(y)
            else:
                rm = getattr(y, "r" + method, None)
                if rm is not None:
                    return rm(x)
                if method in ("add", "multiply"):  # commutative: let the datatype do it
                    m = getattr(y, method, None)
                    if m is not None:
                        return m(x)
            raise CqlError(f"{name} is not defined for {type(x).__name__}, {type(y).__name__}")

        sig = _signature(node)
        if sig == ["System.Integer", "System.Integer"]:

            def int_fn(ctx: Any) -> Any:
                x = a(ctx)
                if x is None:
                    return None
                y = b(ctx)
                if y is None:
                    return None
                if type(x) is not int or type(y) is not int:
                    return apply(x, y)  # e.g. an Uncertainty from a duration
                r = int_op(x, y)
                if r is None or INT_MIN <= r <= INT_MAX:
                    return r
                return None

            return int_fn

        return fn

    return compile_fn


def _int_div(x: int, y: int) -> Decimal | None:
    if y == 0:
        return None
    return D.divide(Decimal(x), Decimal(y))


def _dec_div(x: Decimal, y: Decimal) -> Decimal | None:
    if y == 0:
        return None
    return D.divide(x, y)


def _trunc_div_int(x: int, y: int) -> int | None:
    if y == 0:
        return None
    q = abs(x) // abs(y)
    return q if (x >= 0) == (y >= 0) else -q


def _trunc_div_dec(x: Decimal, y: Decimal) -> Decimal | None:
    if y == 0:
        return None
    return D.divide_int(x, y)


def _mod_int(x: int, y: int) -> int | None:
    if y == 0:
        return None
    r = abs(x) % abs(y)
    return -r if x < 0 else r


def _mod_dec(x: Decimal, y: Decimal) -> Decimal | None:
    if y == 0:
        return None
    return D.remainder(x, y)


def _pow_int(x: int, y: int) -> int | Decimal | None:
    if y < 0:
        if x == 0:
            return None
        return D.divide(Decimal(1), Decimal(x) ** -y)
    return x**y


def _pow_dec(x: Decimal, y: Decimal) -> Decimal | None:
    try:
        if x == 0 and y < 0:
            return None
        if y == y.to_integral_value():
            return D.power(x, int(y))
        r = D.power(x, y)
    except (InvalidOperation, ArithmeticError):
        return None
    return r


operator("Add")(_binary("Add", lambda x, y: x + y, D.add, "add"))
operator("Subtract")(_binary("Subtract", lambda x, y: x - y, D.subtract, "subtract"))
operator("Multiply")(_binary("Multiply", lambda x, y: x * y, D.multiply, "multiply"))
operator("Divide")(_binary("Divide", _int_div, _dec_div, "divide"))
operator("TruncatedDivide")(
    _binary("TruncatedDivide", _trunc_div_int, _trunc_div_dec, "truncated_divide")
)
operator("Modulo")(_binary("Modulo", _mod_int, _mod_dec, "modulo"))
operator("Power")(_binary("Power", _pow_int, _pow_dec, "power"))


def _unary(
    name: str,
    int_fn: Callable[[int], Any] | None,
    dec_fn: Callable[[Decimal], Any] | None,
    method: str | None = None,
) -> Callable[[dict, Compiler], Evaluator]:
    def compile_fn(node: dict, c: Compiler) -> Evaluator:
        a = c.compile_operand(node)

        def fn(ctx: Any) -> Any:
            x = a(ctx)
            if x is None:
                return None
            if isinstance(x, Decimal):
                if dec_fn is None:
                    raise CqlError(f"{name} is not defined for Decimal")
                return dec_fn(x)
            if isinstance(x, int) and not isinstance(x, bool):
                if int_fn is None:
                    return dec_fn(Decimal(x))  # type: ignore[misc]
                r = int_fn(x)
                if r is None or isinstance(r, Decimal):
                    return r if r is None else check_decimal(r)
                return check_long(r) if isinstance(x, Long) else check_int(r)
            m = getattr(x, method or name.lower(), None)
            if m is None:
                raise CqlError(f"{name} is not defined for {type(x).__name__}")
            return m()

        return fn

    return compile_fn


def _exact(fn: Callable[[Decimal], Decimal]) -> Callable[[Decimal], Decimal | None]:
    def wrapped(x: Decimal) -> Decimal | None:
        try:
            return check_decimal(fn(x))
        except (InvalidOperation, ArithmeticError):
            return None

    return wrapped


def _ln(x: Decimal) -> Decimal | None:
    if x < 0:
        return None
    if x == 0:
        raise CqlError("Ln(0) is undefined")
    return check_decimal(D.ln(x))


def _exp(x: Decimal) -> Decimal | None:
    r = D.exp(x)
    if r > DECIMAL_MAX:
        raise CqlError("Exp result is out of the Decimal range")
    return check_decimal(r)


_negate = _unary("Negate", lambda x: -x, _exact(D.minus), "negate")


@operator("Negate")
def compile_negate(node: dict, c: Compiler) -> Evaluator:
    """`-literal` is folded into one literal so that `-2147483648` is a valid Integer."""
    operand = node.get("operand")
    if isinstance(operand, dict) and operand.get("type") == "Literal":
        return literal_evaluator(literal_value(operand, negate=True))
    return _negate(node, c)


def _integral(rounding: str) -> Callable[[Decimal], int | None]:
    return lambda x: check_int(int(x.to_integral_value(rounding=rounding)))


operator("Abs")(_unary("Abs", abs, _exact(D.abs), "abs"))
operator("Ceiling")(_unary("Ceiling", lambda x: x, _integral(ROUND_CEILING)))
operator("Floor")(_unary("Floor", lambda x: x, _integral(ROUND_FLOOR)))
operator("Truncate")(_unary("Truncate", lambda x: x, _integral(ROUND_DOWN)))
operator("Ln")(_unary("Ln", None, _ln))
operator("Exp")(_unary("Exp", None, _exp))


@operator("Round")
def compile_round(node: dict, c: Compiler) -> Evaluator:
    a = c.compile_operand(node)
    p = c.compile(node["precision"]) if node.get("precision") is not None else None

    def round_(ctx: Any) -> Any:
        x = a(ctx)
        if x is None:
            return None
        places = p(ctx) if p is not None else 0
        if places is None:
            places = 0
        x = Decimal(x)
        q = Decimal(1).scaleb(-places)
        return check_decimal(x.quantize(q, rounding=ROUND_HALF_UP, context=D))

    return round_


@operator("Log")
def compile_log(node: dict, c: Compiler) -> Evaluator:
    a, b = c.compile_operands(node)

    def log(ctx: Any) -> Any:
        x, base = a(ctx), b(ctx)
        if x is None or base is None:
            return None
        x, base = Decimal(x), Decimal(base)
        if x <= 0 or base <= 0 or base == 1:
            return None
        return check_decimal(D.divide(D.ln(x), D.ln(base)))

    return log


def _decimal_places(x: Decimal) -> int:
    exp = x.as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 0


def _step(x: Any, direction: int) -> Any:
    if isinstance(x, Decimal):
        r = x + direction * DECIMAL_STEP
        if r > DECIMAL_MAX or r < DECIMAL_MIN:
            raise CqlError("Decimal overflow in successor/predecessor")
        return r
    if isinstance(x, Long):
        r = x + direction
        if not LONG_MIN <= r <= LONG_MAX:
            raise CqlError("Long overflow in successor/predecessor")
        return Long(r)
    if isinstance(x, int) and not isinstance(x, bool):
        r = x + direction
        if not INT_MIN <= r <= INT_MAX:
            raise CqlError("Integer overflow in successor/predecessor")
        return r
    m = getattr(x, "successor" if direction > 0 else "predecessor", None)
    if m is None:
        raise CqlError(f"successor/predecessor not defined for {type(x).__name__}")
    return m()


operator("Successor")(null_propagating(lambda x: _step(x, 1)))
operator("Predecessor")(null_propagating(lambda x: _step(x, -1)))


_DATE_DIGITS = {4: 0, 6: 1, 8: 2, 10: 3, 12: 4, 14: 5, 17: 6}
_TIME_DIGITS = {2: 3, 4: 4, 6: 5, 9: 6}


def _temporal_digits(x: Any) -> int:
    table = _TIME_DIGITS if isinstance(x, Time) else _DATE_DIGITS
    index = x.precision
    for digits, i in table.items():
        if i == index:
            return digits
    raise CqlError(f"unknown precision {index}")


@operator("Precision")
def compile_precision(node: dict, c: Compiler) -> Evaluator:
    a = c.compile_operand(node)

    def precision(ctx: Any) -> int | None:
        x = a(ctx)
        if x is None:
            return None
        if isinstance(x, Decimal):
            exp = x.as_tuple().exponent
            return max(0, -exp) if isinstance(exp, int) else 0
        if isinstance(x, int):
            return 0
        return _temporal_digits(x)

    return precision


def _boundary(high: bool) -> Any:
    def compile_fn(node: dict, c: Compiler) -> Evaluator:
        ops = c.compile_operands(node)
        a = ops[0]
        p = ops[1] if len(ops) > 1 else None

        def boundary(ctx: Any) -> Any:
            x = a(ctx)
            if x is None:
                return None
            digits = p(ctx) if p is not None else None
            if isinstance(x, (Decimal, int)):
                x = Decimal(x)
                places = 8 if digits is None else digits
                if places < 0 or places > 8:
                    return None
                exp = x.as_tuple().exponent
                have = max(0, -exp) if isinstance(exp, int) else 0
                if have > places:
                    return None
                q = Decimal(1).scaleb(-places)
                base = x.quantize(q, context=D)
                if not high or places == have:
                    return base
                step = Decimal(1).scaleb(-have) - q
                return check_decimal(base + step if x >= 0 else base - step)
            table = _TIME_DIGITS if isinstance(x, Time) else _DATE_DIGITS
            index = None if digits is None else table.get(digits)
            if digits is not None and index is None:
                return None
            return x.high_boundary(index) if high else x.low_boundary(index)

        return boundary

    return compile_fn


operator("LowBoundary")(_boundary(False))
operator("HighBoundary")(_boundary(True))


def _min_max(node: dict, c: Compiler, maximum: bool) -> Evaluator:
    _, local = split_type(node.get("valueType"))
    values: dict[str, Any] = {
        "Integer": (INT_MIN, INT_MAX),
        "Long": (Long(LONG_MIN), Long(LONG_MAX)),
        "Decimal": (DECIMAL_MIN_VALUE, DECIMAL_MAX_VALUE),
        "DateTime": (temporal.MIN_DATETIME, temporal.MAX_DATETIME),
        "Date": (temporal.MIN_DATE, temporal.MAX_DATE),
        "Time": (temporal.MIN_TIME, temporal.MAX_TIME),
    }
    if local in ("DateTime",):
        values["DateTime"] = (
            DateTime._make(temporal.MIN_DATETIME.parts, Decimal(0)),
            DateTime._make(temporal.MAX_DATETIME.parts, Decimal(0)),
        )
    if local not in values:
        raise ElmLoadError(f"{'Max' if maximum else 'Min'}Value of {local} is not defined")
    return constant(values[local][1 if maximum else 0])


@operator("MinValue")
def compile_min_value(node: dict, c: Compiler) -> Evaluator:
    return _min_max(node, c, False)


@operator("MaxValue")
def compile_max_value(node: dict, c: Compiler) -> Evaluator:
    return _min_max(node, c, True)
