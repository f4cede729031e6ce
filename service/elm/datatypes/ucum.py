"""A small, table-driven UCUM subset: enough for clinical units, no third-party dependency.

A unit expression (``mg/dL``, ``mm[Hg]``, ``10*3/uL``, ``kg.m-2``, ``{beats}/min``) is parsed into
a :class:`Unit`: a Decimal factor to the coherent base units and a dimension vector. Two units
convert into each other when their dimensions are equal. Grammar (UCUM §2): terms joined by
``.`` (multiply) and ``/`` (divide), a leading ``/`` for reciprocals, parenthesised sub-terms,
integer exponents, metric prefixes on metric atoms, ``{annotations}`` counting as 1, and
positive integer factors. Celsius and Fahrenheit are converted with their offsets when they
stand alone.
"""

from __future__ import annotations

import re
from decimal import Context, Decimal
from functools import lru_cache

from service.elm.units import BY_SPELLING, TIME_UNITS

_CTX = Context(prec=40)
_ROUND = Context(prec=28)  # results: 28 significant digits (CQL Decimal), no binary noise
D = Decimal

#: Dimensions: length, mass, time, temperature, charge, luminous intensity, amount of
#: substance, equivalents, international units, plane angle.
_DIMS = ("L", "M", "T", "K", "Q", "J", "N", "EQ", "IU", "A")
_NO_DIM = (0,) * len(_DIMS)


def _dim(**exps: int) -> tuple[int, ...]:
    return tuple(exps.get(d, 0) for d in _DIMS)


class Unit:
    """``factor`` times the coherent base units with exponents ``dims``."""

    __slots__ = ("dims", "factor", "special")

    def __init__(self, factor: Decimal, dims: tuple[int, ...], special: str | None = None):
        self.factor = factor
        self.dims = dims
        self.special = special  # 'Cel' or '[degF]' for offset temperature units

    def mul(self, other: Unit) -> Unit:
        return Unit(
            _CTX.multiply(self.factor, other.factor),
            tuple(a + b for a, b in zip(self.dims, other.dims, strict=True)),
        )

    def pow(self, n: int) -> Unit:
        return Unit(_CTX.power(self.factor, n), tuple(a * n for a in self.dims))

    def __repr__(self) -> str:
        return f"Unit({self.factor}, {self.dims})"


def _u(factor: str | int | Decimal, **dims: int) -> Unit:
    return Unit(D(factor), _dim(**dims))


# Atoms: (unit, metric?) — metric atoms accept prefixes.
_ATOMS: dict[str, tuple[Unit, bool]] = {}


def _atom(name: str, unit: Unit, metric: bool = True) -> None:
    _ATOMS[name] = (unit, metric)


_atom("m", _u(1, L=1))
_atom("g", _u(1, M=1))
_atom("s", _u(1, T=1))
_atom("K", _u(1, K=1))
_atom("C", _u(1, Q=1))
_atom("cd", _u(1, J=1))
_atom("rad", _u(1, A=1))
_atom("mol", _u(1, N=1))
_atom("eq", _u(1, N=1))
_atom("osm", _u(1, N=1))
_atom("U", Unit(D(1) / D(60) * D("1e-6"), _dim(N=1, T=-1)))
_atom("kat", _u(1, N=1, T=-1))
_atom("[iU]", _u(1, IU=1))
_atom("[IU]", _u(1, IU=1))
_atom("L", _u("0.001", L=3))
_atom("l", _u("0.001", L=3))
_atom("Hz", _u(1, T=-1))
_atom("N", _u(1000, M=1, L=1, T=-2))
_atom("Pa", _u(1000, M=1, L=-1, T=-2))
_atom("bar", _u(100000000, M=1, L=-1, T=-2))
_atom("J", _u(1000, M=1, L=2, T=-2))
_atom("W", _u(1000, M=1, L=2, T=-3))
_atom("A", _u(1, Q=1, T=-1))
_atom("V", _u(1000, M=1, L=2, T=-2, Q=-1))
_atom("cal", _u("4184", M=1, L=2, T=-2))
_atom("[Cal]", _u("4184000", M=1, L=2, T=-2), metric=False)
_atom("m[Hg]", _u("133322000", M=1, L=-1, T=-2))
_atom("m[H2O]", _u("9806650", M=1, L=-1, T=-2))
_atom("atm", _u("101325000", M=1, L=-1, T=-2), metric=False)
_atom("t", _u(1000000, M=1))
_atom("u", _u("1.6605402e-24", M=1))
# Time atoms of the CQL time units ('min', 'h', 'd', 'wk', 'a', 'mo'; 's' is the base unit):
# their lengths come from the one table (service.elm.units). 'a_j'/'mo_j' (Julian) are 'a'/'mo';
# the Gregorian year and month are UCUM-only atoms.
for _t in TIME_UNITS:
    if _t.ucum not in ("s", "ms"):
        _atom(_t.ucum, _u(_t.ucum_seconds, T=1), metric=False)
_atom("a_j", _u(BY_SPELLING["a"].ucum_seconds, T=1), metric=False)
_atom("mo_j", _u(BY_SPELLING["mo"].ucum_seconds, T=1), metric=False)
_atom("a_g", _u(31556952, T=1), metric=False)
_atom("mo_g", _u(2629746, T=1), metric=False)
_atom("%", _u("0.01"), metric=False)
_atom("[ppm]", _u("0.000001"), metric=False)
_atom("[in_i]", _u("0.0254", L=1), metric=False)
_atom("[ft_i]", _u("0.3048", L=1), metric=False)
_atom("[yd_i]", _u("0.9144", L=1), metric=False)
_atom("[mi_i]", _u("1609.344", L=1), metric=False)
_atom("[lb_av]", _u("453.59237", M=1), metric=False)
_atom("[oz_av]", _u("28.349523125", M=1), metric=False)
_atom("[gr]", _u("0.06479891", M=1), metric=False)
_atom("[gal_us]", _u("0.003785411784", L=3), metric=False)
_atom("[qt_us]", _u("0.000946352946", L=3), metric=False)
_atom("[pt_us]", _u("0.000473176473", L=3), metric=False)
_atom("[foz_us]", _u("0.0000295735295625", L=3), metric=False)
_atom("[tsp_us]", _u("0.00000492892159375", L=3), metric=False)
_atom("[tbs_us]", _u("0.0000147867647812", L=3), metric=False)
_atom("[drp]", _u("0.00000005", L=3), metric=False)
_atom("deg", Unit(D("0.0174532925199432957692369"), _dim(A=1)), metric=False)
_atom("Cel", Unit(D(1), _dim(K=1), "Cel"))
_atom("[degF]", Unit(D(5) / D(9), _dim(K=1), "[degF]"), metric=False)
_atom("10*", _u(10), metric=False)
_atom("10^", _u(10), metric=False)

_PREFIXES = {
    "Y": D("1e24"),
    "Z": D("1e21"),
    "E": D("1e18"),
    "P": D("1e15"),
    "T": D("1e12"),
    "G": D("1e9"),
    "M": D("1e6"),
    "k": D("1e3"),
    "h": D("1e2"),
    "da": D("1e1"),
    "d": D("1e-1"),
    "c": D("1e-2"),
    "m": D("1e-3"),
    "u": D("1e-6"),
    "n": D("1e-9"),
    "p": D("1e-12"),
    "f": D("1e-15"),
    "a": D("1e-18"),
    "z": D("1e-21"),
    "y": D("1e-24"),
}

_ONE = Unit(D(1), _NO_DIM)
_EXP_RE = re.compile(r"^(.*?[^0-9+\-])([+-]?\d+)$")


class UcumError(ValueError):
    """A unit expression outside the supported UCUM subset."""


def _simple(symbol: str) -> Unit:
    """A prefixed or plain atom."""
    hit = _ATOMS.get(symbol)
    if hit is not None:
        return hit[0]
    for plen in (2, 1):
        p, rest = symbol[:plen], symbol[plen:]
        if p in _PREFIXES and rest:
            atom = _ATOMS.get(rest)
            if atom is not None and atom[1]:
                u = atom[0]
                return Unit(_CTX.multiply(_PREFIXES[p], u.factor), u.dims, u.special)
    raise UcumError(f"unknown unit {symbol!r}")


def _component(text: str) -> Unit:
    if not text:
        raise UcumError("empty unit component")
    # strip a trailing annotation; an annotation alone is the unity
    if text.endswith("}"):
        start = text.rfind("{")
        if start < 0:
            raise UcumError(f"unbalanced annotation in {text!r}")
        text = text[:start]
        if not text:
            return _ONE
    if text.startswith("(") and text.endswith(")"):
        return _term(text[1:-1])
    if text.isdigit():
        return Unit(D(text), _NO_DIM)
    m = _EXP_RE.match(text)
    if m and not text.endswith("]"):
        base, exp = m.group(1), int(m.group(2))
        if base.startswith("(") and base.endswith(")"):
            return _term(base[1:-1]).pow(exp)
        return _simple(base).pow(exp)
    return _simple(text)


def _split(text: str) -> list[tuple[str, str]]:
    """Split a term at top-level '.' and '/' into (operator, component) pairs."""
    out: list[tuple[str, str]] = []
    depth = 0
    op = "."
    buf = ""
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if depth == 0 and ch in "./" and buf:
            out.append((op, buf))
            op, buf = ch, ""
        elif depth == 0 and ch == "/" and not buf and not out:
            op = "/"
        else:
            buf += ch
    if depth != 0:
        raise UcumError(f"unbalanced brackets in {text!r}")
    out.append((op, buf))
    return out


def _term(text: str) -> Unit:
    result = _ONE
    for op, comp in _split(text):
        u = _component(comp)
        result = result.mul(u if op == "." else u.pow(-1))
    return result


@lru_cache(maxsize=1024)
def parse_unit(unit: str) -> Unit:
    """The :class:`Unit` of a UCUM expression (UcumError when outside the subset)."""
    text = unit.strip()
    if text in ("", "1"):
        return _ONE
    u = _term(text)
    if u.special is None and text in _ATOMS and _ATOMS[text][0].special:
        return _ATOMS[text][0]
    return u


def is_valid(unit: str) -> bool:
    try:
        parse_unit(unit)
    except (UcumError, ArithmeticError):
        return False
    return True


def convertible(a: str, b: str) -> bool:
    try:
        return parse_unit(a).dims == parse_unit(b).dims
    except (UcumError, ArithmeticError):
        return False


def convert(value: Decimal, from_unit: str, to_unit: str) -> Decimal | None:
    """``value`` in ``from_unit`` expressed in ``to_unit`` (None when not convertible)."""
    if from_unit == to_unit:
        return value
    try:
        fu, tu = parse_unit(from_unit), parse_unit(to_unit)
    except (UcumError, ArithmeticError):
        return None
    if fu.dims != tu.dims:
        return None
    if fu.special or tu.special:
        r = _convert_temperature(value, from_unit.strip(), to_unit.strip(), fu, tu)
    else:
        r = _CTX.divide(_CTX.multiply(value, fu.factor), tu.factor)
    return None if r is None else _ROUND.plus(r)


def _to_kelvin(value: Decimal, unit: str, u: Unit) -> Decimal:
    if unit == "Cel":
        return value + D("273.15")
    if unit == "[degF]":
        return _CTX.divide((value + D("459.67")) * 5, D(9))
    return _CTX.multiply(value, u.factor)


def _convert_temperature(
    value: Decimal, fu_s: str, tu_s: str, fu: Unit, tu: Unit
) -> Decimal | None:
    if fu.special and fu_s not in ("Cel", "[degF]"):
        return None
    if tu.special and tu_s not in ("Cel", "[degF]"):
        return None
    k = _to_kelvin(value, fu_s, fu)
    if tu_s == "Cel":
        return k - D("273.15")
    if tu_s == "[degF]":
        return _CTX.divide(k * 9, D(5)) - D("459.67")
    return _CTX.divide(k, tu.factor)
