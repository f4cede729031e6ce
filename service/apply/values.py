"""Conversions between CQL values (service.elm datatypes) and FHIR JSON.

- `to_fhir(value)`: a CQL result → FHIR JSON for a dynamicValue (Code → Coding, Concept →
  CodeableConcept, Quantity → Quantity, DateTime/Date/Time → their FHIR string, Interval → Period or
  Range, Ratio → Ratio, Decimal → number, Tuple → object, FHIR resources/elements unchanged).
- `parameter_to_cql(parameter)`: one `Parameters.parameter` (`value[x]`) → a CQL value for a CQL
  parameter of the logic (`valueInteger` → Integer, `valueDateTime` → DateTime, `valuePeriod` →
  Interval<DateTime>, `valueQuantity` → Quantity, `valueCoding` → Code, ...).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

UCUM = "http://unitsofmeasure.org"
_CALENDAR_TO_UCUM = {
    "year": "a", "years": "a", "month": "mo", "months": "mo", "week": "wk", "weeks": "wk",
    "day": "d", "days": "d", "hour": "h", "hours": "h", "minute": "min", "minutes": "min",
    "second": "s", "seconds": "s", "millisecond": "ms", "milliseconds": "ms",
}  # fmt: skip


class ConversionError(ValueError):
    """A value cannot be converted (the message says which and why)."""


def _number(d: Any) -> int | float:
    if isinstance(d, Decimal):
        return int(d) if d == d.to_integral_value() and abs(d) < 2**53 else float(d)
    return d


def to_fhir(value: Any) -> Any:
    """Convert a CQL value to FHIR JSON (None stays None)."""
    from service.elm.datatypes.clinical import Code, Concept
    from service.elm.datatypes.temporal import Date, DateTime, Time

    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, Decimal):
        return _number(value)
    if isinstance(value, float):
        return value
    if isinstance(value, list):
        return [v for v in (to_fhir(x) for x in value) if v is not None]
    if isinstance(value, DateTime | Date | Time):
        return str(value)
    if isinstance(value, Code):
        return _coding(value)
    if isinstance(value, Concept):
        out: dict = {"coding": [_coding(c) for c in value.codes]}
        if value.display:
            out["text"] = value.display
        return out
    cls = type(value).__name__
    if cls == "Quantity":
        return quantity_to_fhir(value)
    if cls == "Ratio":
        return {
            "numerator": quantity_to_fhir(value.numerator),
            "denominator": quantity_to_fhir(value.denominator),
        }
    if cls == "Interval":
        low, high = getattr(value, "low", None), getattr(value, "high", None)
        point = low if low is not None else high
        if type(point).__name__ == "Quantity":
            return {k: quantity_to_fhir(v) for k, v in (("low", low), ("high", high)) if v}
        return {k: str(v) for k, v in (("start", low), ("end", high)) if v is not None}
    if isinstance(value, dict):  # FHIR JSON (resources, elements) or a CQL Tuple
        return {k: v for k, v in ((k, to_fhir(v)) for k, v in value.items()) if v is not None}
    raise ConversionError(f"a CQL {cls} has no FHIR representation")


def _coding(code: Any) -> dict:
    out = {"system": code.system, "version": code.version, "code": code.code}
    if code.display:
        out["display"] = code.display
    return {k: v for k, v in out.items() if v is not None}


def quantity_to_fhir(q: Any) -> dict:
    unit = getattr(q, "unit", None) or "1"
    code = _CALENDAR_TO_UCUM.get(unit, unit)
    return {"value": _number(q.value), "unit": unit, "system": UCUM, "code": code}


# -- FHIR -> CQL (CQL parameters of $apply) ---------------------------------------------------
def _quantity(q: dict) -> Any:
    from service.elm.datatypes.quantity import Quantity

    if not isinstance(q, dict) or q.get("value") is None:
        raise ConversionError("a Quantity needs a value")
    try:
        value = Decimal(str(q["value"]))
    except InvalidOperation:
        raise ConversionError(f"not a number: {q['value']!r}") from None
    return Quantity(value, q.get("code") or q.get("unit") or "1")


def _datetime(text: Any) -> Any:
    from service.elm.datatypes.temporal import DateTime

    parsed = DateTime.parse(text) if isinstance(text, str) else None
    if parsed is None:
        raise ConversionError(f"not a FHIR dateTime: {text!r}")
    return parsed


def _date(text: Any) -> Any:
    from service.elm.datatypes.temporal import Date

    parsed = Date.parse(text) if isinstance(text, str) else None
    if parsed is None:
        raise ConversionError(f"not a FHIR date: {text!r}")
    return parsed


def _code(c: dict) -> Any:
    from service.elm.datatypes.clinical import Code

    if not isinstance(c, dict) or not c.get("code"):
        raise ConversionError("a Coding needs a code")
    return Code(c.get("code"), c.get("system"), c.get("version"), c.get("display"))


def _interval(low: Any, high: Any, point_type: str) -> Any:
    from service.elm.datatypes.interval import Interval

    return Interval(low, high, True, True, point_type=point_type)


_STRING_TYPES = ("String", "Code", "Id", "Uri", "Url", "Canonical", "Markdown", "Oid", "Uuid")


def parameter_to_cql(parameter: dict) -> Any:
    """The CQL value of one Parameters.parameter (its single `value[x]`)."""
    keys = [k for k in parameter if k.startswith("value")]
    if len(keys) != 1:
        raise ConversionError(f"parameter {parameter.get('name')!r} needs exactly one value[x]")
    key = keys[0]
    value = parameter[key]
    kind = key[len("value") :]
    if kind == "Boolean" and isinstance(value, bool):
        return value
    if kind in ("Integer", "PositiveInt", "UnsignedInt"):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConversionError(f"{key} must be an integer")
    if kind == "Decimal" and isinstance(value, int | float) and not isinstance(value, bool):
        return Decimal(str(value))
    if kind in _STRING_TYPES and isinstance(value, str):
        return value
    if kind in ("DateTime", "Instant"):
        return _datetime(value)
    if kind == "Date":
        return _date(value)
    if kind in ("Quantity", "Duration", "Age"):
        return _quantity(value)
    if kind == "Coding":
        return _code(value)
    if kind == "CodeableConcept" and isinstance(value, dict):
        from service.elm.datatypes.clinical import Concept

        return Concept([_code(c) for c in value.get("coding") or []], value.get("text"))
    if kind == "Period" and isinstance(value, dict):
        low = _datetime(value["start"]) if value.get("start") else None
        high = _datetime(value["end"]) if value.get("end") else None
        return _interval(low, high, "DateTime")
    if kind == "Range" and isinstance(value, dict):
        low = _quantity(value["low"]) if value.get("low") else None
        high = _quantity(value["high"]) if value.get("high") else None
        return _interval(low, high, "Quantity")
    raise ConversionError(f"{key} is not supported as a CQL parameter value")


def parameters_to_cql(parameters: dict) -> dict[str, Any]:
    """A nested Parameters resource → {name: CQL value}; a repeated name becomes a List."""
    if not isinstance(parameters, dict) or parameters.get("resourceType") != "Parameters":
        raise ConversionError("`parameters` must be a Parameters resource")
    out: dict[str, Any] = {}
    repeated: set[str] = set()
    for p in parameters.get("parameter") or []:
        name = p.get("name") if isinstance(p, dict) else None
        if not isinstance(name, str) or not name:
            raise ConversionError("every CQL parameter needs a name")
        value = parameter_to_cql(p)
        if name in out:
            if name not in repeated:
                out[name] = [out[name]]
                repeated.add(name)
            out[name].append(value)
        else:
            out[name] = value
    return out
