"""Type operators: conversions (ToX, ConvertsToX, Convert), As (incl. strict), Is, ToList.

Conversions follow CQL 1.5 §22.25: an input that cannot be converted gives null (ConvertsToX
gives false); strict `As` raises. Temporal and Quantity conversions delegate to the parsers of
the temporal/quantity datatypes.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from service.elm.compiler import Compiler, Evaluator, qualified, result_type
from service.elm.datamodel import MODEL
from service.elm.datatypes.clinical import Code, Concept
from service.elm.datatypes.numbers import (
    Long,
    check_decimal,
    check_int,
    check_long,
)
from service.elm.datatypes.quantity import CALENDAR_UNITS, Quantity, Ratio
from service.elm.datatypes.temporal import Date, DateTime, Time
from service.elm.datatypes.tuples import Tuple
from service.elm.errors import CqlError, ElmLoadError
from service.elm.registry import null_propagating, operator

_INT_RE = re.compile(r"[+-]?\d+")
_DEC_RE = re.compile(r"[+-]?\d+(\.\d+)?")


def to_boolean(v: Any) -> bool | None:
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, str):
        s = v.strip().lower()
        if s in ("true", "t", "yes", "y", "1"):
            return True
        if s in ("false", "f", "no", "n", "0"):
            return False
        return None
    if isinstance(v, int):
        return {1: True, 0: False}.get(int(v))
    if isinstance(v, Decimal):
        return True if v == 1 else False if v == 0 else None
    return None


def to_integer(v: Any) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return 1 if v else 0
    if isinstance(v, int):
        return check_int(int(v))
    if isinstance(v, str):
        s = v.strip()
        return check_int(int(s)) if _INT_RE.fullmatch(s) else None
    if isinstance(v, Decimal):
        return check_int(int(v))
    return None


def to_long(v: Any) -> Long | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return Long(1 if v else 0)
    if isinstance(v, int):
        return check_long(int(v))
    if isinstance(v, str):
        s = v.strip()
        return check_long(int(s)) if _INT_RE.fullmatch(s) else None
    if isinstance(v, Decimal):
        return check_long(int(v))
    return None


def to_decimal(v: Any) -> Decimal | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return Decimal("1.0") if v else Decimal("0.0")
    if isinstance(v, Decimal):
        return v
    if isinstance(v, int):
        return check_decimal(Decimal(int(v)))
    if isinstance(v, float):
        return check_decimal(Decimal(repr(v)))
    if isinstance(v, str):
        s = v.strip()
        if not _DEC_RE.fullmatch(s):
            return None
        try:
            return check_decimal(Decimal(s))
        except InvalidOperation:
            return None
    return None


def decimal_string(d: Decimal) -> str:
    """CQL string form of a Decimal (no exponent notation)."""
    return format(d, "f")


def to_string(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(int(v))
    if isinstance(v, Decimal):
        return decimal_string(v)
    if isinstance(v, Code):
        return v.code
    to_str = getattr(v, "cql_string", None)
    if to_str is not None:
        return to_str()
    return str(v)


def to_concept(v: Any) -> Concept | None:
    if v is None:
        return None
    if isinstance(v, Concept):
        return v
    if isinstance(v, Code):
        return Concept([v])
    if isinstance(v, list):
        return Concept([c for c in v if isinstance(c, Code)])
    return None


def _conversion(fn: Any) -> Any:
    def compile_fn(node: dict, c: Compiler) -> Evaluator:
        a = c.compile_operand(node)
        return lambda ctx: fn(a(ctx))

    return compile_fn


def _converts(fn: Any) -> Any:
    def compile_fn(node: dict, c: Compiler) -> Evaluator:
        a = c.compile_operand(node)

        def converts(ctx: Any) -> bool | None:
            v = a(ctx)
            if v is None:
                return None
            return fn(v) is not None

        return converts

    return compile_fn


_TIME_TZ = re.compile(r"(Z|[+-]\d{2}:\d{2})$")
_QTY_RE = re.compile(r"\s*([+-]?\d+(?:\.\d+)?)\s*(?:'([^']*)'|([A-Za-z%][^\s]*))?\s*")


def to_quantity(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, Quantity):
        return v
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, Decimal)):
        return Quantity(Decimal(v), "1")
    if isinstance(v, str):
        m = _QTY_RE.fullmatch(v)
        if not m:
            return None
        value = check_decimal(Decimal(m.group(1)))
        if value is None:
            return None
        unit = m.group(2) if m.group(2) is not None else m.group(3)
        if unit is not None and m.group(2) is None and unit not in CALENDAR_UNITS:
            return None
        return Quantity(value, unit or "1")
    return None


def to_ratio(v: Any) -> Any:
    if v is None or isinstance(v, Ratio):
        return v
    if isinstance(v, str):
        left, sep, right = v.partition(":")
        if not sep:
            return None
        n, d = to_quantity(left), to_quantity(right)
        if n is None or d is None:
            return None
        return Ratio(n, d)
    return None


def to_datetime(v: Any) -> Any:
    if v is None or isinstance(v, DateTime):
        return v
    if isinstance(v, Date):
        return v.to_datetime()
    if isinstance(v, str):
        return DateTime.parse(v)
    return None


def to_date(v: Any) -> Any:
    if v is None or isinstance(v, Date):
        return v
    if isinstance(v, DateTime):
        return v.date()
    if isinstance(v, str):
        d = Date.parse(v)
        if d is None:
            dt = DateTime.parse(v)
            return dt.date() if dt is not None else None
        return d
    return None


def to_time(v: Any) -> Any:
    if v is None or isinstance(v, Time):
        return v
    if isinstance(v, str):
        return Time.parse(_TIME_TZ.sub("", v.strip()))
    return None


CONVERSIONS: dict[str, Any] = {
    "Boolean": to_boolean,
    "Integer": to_integer,
    "Long": to_long,
    "Decimal": to_decimal,
    "String": to_string,
    "Concept": to_concept,
    "Quantity": to_quantity,
    "Ratio": to_ratio,
    "DateTime": to_datetime,
    "Date": to_date,
    "Time": to_time,
}

for _name, _fn in CONVERSIONS.items():
    operator(f"To{_name}")(_conversion(_fn))
    operator(f"ConvertsTo{_name}")(_converts(_fn))


@operator("ToList")
def compile_to_list(node: dict, c: Compiler) -> Evaluator:
    a = c.compile_operand(node)

    def to_list(ctx: Any) -> list:
        v = a(ctx)
        if v is None:
            return []
        return v if isinstance(v, list) else [v]

    return to_list


operator("ToChars")(null_propagating(list))


@operator("CanConvertQuantity")
def compile_can_convert_quantity(node: dict, c: Compiler) -> Evaluator:
    a, b = c.compile_operands(node)

    def can_convert(ctx: Any) -> bool | None:
        q, unit = a(ctx), b(ctx)
        if q is None or unit is None:
            return None
        return q.can_convert(unit)

    return can_convert


@operator("ConvertQuantity")
def compile_convert_quantity(node: dict, c: Compiler) -> Evaluator:
    a, b = c.compile_operands(node)

    def convert(ctx: Any) -> Any:
        q, unit = a(ctx), b(ctx)
        if q is None or unit is None:
            return None
        return q.convert(unit)

    return convert


# -- type tests ---------------------------------------------------------------------------


def _system_test(local: str) -> Any:
    tests: dict[str, Any] = {
        "Any": lambda v: True,
        "Boolean": lambda v: isinstance(v, bool),
        "Integer": lambda v: type(v) is int,
        "Long": lambda v: isinstance(v, Long),
        "Decimal": lambda v: isinstance(v, Decimal),
        "String": lambda v: isinstance(v, str),
        "Date": lambda v: isinstance(v, Date),
        "DateTime": lambda v: isinstance(v, DateTime),
        "Time": lambda v: isinstance(v, Time),
        "Quantity": lambda v: isinstance(v, Quantity),
        "Ratio": lambda v: isinstance(v, Ratio),
        "Code": lambda v: isinstance(v, Code),
        "Concept": lambda v: isinstance(v, Concept),
        "Vocabulary": lambda v: type(v).__name__ in ("ValueSetRef", "CodeSystemRef"),
        "ValueSet": lambda v: type(v).__name__ == "ValueSetRef",
        "CodeSystem": lambda v: type(v).__name__ == "CodeSystemRef",
    }
    return tests.get(local)


def type_test(spec: Any) -> Any:
    """A predicate value -> True/False/None (None: cannot tell at run time) for a type
    given as a qualified name ('{urn:...}Integer') or a type specifier dict."""

    if isinstance(spec, str):
        name = qualified(spec)
        model, _, local = name.partition(".")
        if model == "System":
            t = _system_test(local)
            if t is None:
                return lambda v: None
            return t
        model_test = MODEL.type_tests.get(model)
        if model_test is not None:
            return model_test(local)
        return lambda v: None
    t = spec.get("type")
    if t == "NamedTypeSpecifier":
        return type_test(spec["name"])
    if t == "ListTypeSpecifier":
        elem = type_test(spec["elementType"])

        def list_test(v: Any) -> bool | None:
            if not isinstance(v, list):
                return False
            return all(x is None or elem(x) is not False for x in v)

        return list_test
    if t == "IntervalTypeSpecifier":
        point = type_test(spec["pointType"])

        def interval_test(v: Any) -> bool | None:
            if type(v).__name__ != "Interval":
                return False
            p = v.low if v.low is not None else v.high
            return True if p is None else point(p) is not False

        return interval_test
    if t == "TupleTypeSpecifier":
        return lambda v: isinstance(v, dict) and "resourceType" not in v
    if t == "ChoiceTypeSpecifier":
        choices = [type_test(ch) for ch in spec.get("choice") or spec.get("type") or []]
        return lambda v: any(ch(v) for ch in choices)
    return lambda v: None


def _target_spec(node: dict, key: str) -> Any:
    """The target type: a qualified name string, or a (non-named) type specifier dict."""
    spec = node.get(key + "TypeSpecifier")
    if spec is None:
        return node.get(key + "Type")
    if spec.get("type") == "NamedTypeSpecifier":
        return spec["name"]
    return spec


@operator("Is")
def compile_is(node: dict, c: Compiler) -> Evaluator:
    target = _target_spec(node, "is")
    if isinstance(target, str):
        direct = MODEL.compile_choice_cast(node, _qualified(target), c)
        if direct is not None:
            return lambda ctx: direct(ctx) is not None
    a = c.compile_operand(node)
    test = type_test(target)

    def is_(ctx: Any) -> bool:
        v = a(ctx)
        if v is None:
            return False
        return test(v) is not False

    return is_


def _qualified(name: str) -> str:
    return qualified(name)


@operator("As")
def compile_as(node: dict, c: Compiler) -> Evaluator:
    target = _target_spec(node, "as")
    strict = bool(node.get("strict"))
    if isinstance(target, str) and not strict:
        direct = MODEL.compile_choice_cast(node, _qualified(target), c)
        if direct is not None:
            return direct
    a = c.compile_operand(node)
    operand = node.get("operand")
    operand_type = result_type(operand) if isinstance(operand, dict) else None
    target_name = _qualified(target) if isinstance(target, str) else None
    if target_name is not None and operand_type == target_name:
        return a
    test = type_test(target)
    fhir_target = target_name is not None and target_name.startswith("FHIR.")

    def as_(ctx: Any) -> Any:
        v = a(ctx)
        if v is None:
            return None
        ok = test(v)
        if ok is False:
            if strict:
                raise CqlError(f"cannot cast {type(v).__name__} to {target_name or target}")
            return None
        if fhir_target:
            return MODEL.unwrap(v)
        return v

    return as_


@operator("Convert")
def compile_convert(node: dict, c: Compiler) -> Evaluator:
    target = _target_spec(node, "to")
    name = qualified(target) if isinstance(target, str) else None
    local = name.partition(".")[2] if name and name.startswith("System.") else None
    fn = CONVERSIONS.get(local or "")
    if fn is None:
        raise ElmLoadError(f"Convert to {target!r} is not supported")
    a = c.compile_operand(node)
    return lambda ctx: fn(a(ctx))


def instance_factory(class_type: str | None, c: Compiler) -> Any:
    """Build a value of `class_type` from its element values (Instance selector)."""

    name = qualified(class_type) if class_type else ""
    if name == "System.Code":
        return lambda e: Code(e.get("code"), e.get("system"), e.get("version"), e.get("display"))
    if name == "System.Concept":
        return lambda e: Concept(e.get("codes"), e.get("display"))
    if name == "System.Quantity":
        return lambda e: None if e.get("value") is None else Quantity(e["value"], e.get("unit"))
    if name == "System.Ratio":
        return lambda e: Ratio(e.get("numerator"), e.get("denominator"))
    if name.startswith("FHIR."):
        local = name[5:]
        if local[:1].isupper():

            def fhir_instance(e: dict) -> dict:
                return {k: v for k, v in e.items() if v is not None}

            return fhir_instance
    return lambda e: Tuple(e)
