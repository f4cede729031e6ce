"""Conversions between CQL values (service.elm datatypes) and FHIR JSON.

Part of the FHIR data source of the engine, so both `service.knowledge` (deployment CQL
parameters) and `service.apply` (dynamicValues, `$apply` parameters) use it without importing
each other (`service.apply.values` re-exports it).

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

from service.elm.datatypes.clinical import Code, Concept
from service.elm.datatypes.interval import Interval
from service.elm.datatypes.quantity import Quantity
from service.elm.datatypes.temporal import Date, DateTime, Time
from service.elm.units import CALENDAR_TO_UCUM

UCUM = "http://unitsofmeasure.org"


class ConversionError(ValueError):
    """A value cannot be converted. The message says which element and why in fixed words,
    never the value itself: $apply sends it to the client (docs/security.md)."""


def _number(d: Any) -> int | float:
    if isinstance(d, Decimal):
        return int(d) if d == d.to_integral_value() and abs(d) < 2**53 else float(d)
    return d


def to_fhir(value: Any) -> Any:
    """Convert a CQL value to FHIR JSON (None stays None)."""
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
    code = CALENDAR_TO_UCUM.get(unit, unit)
    return {"value": _number(q.value), "unit": unit, "system": UCUM, "code": code}


# -- FHIR -> CQL (CQL parameters of $apply) ---------------------------------------------------
def _quantity(q: dict) -> Any:
    if not isinstance(q, dict) or q.get("value") is None:
        raise ConversionError("a Quantity needs a value")
    number = q["value"]
    if isinstance(number, bool) or not isinstance(number, int | float):
        raise ConversionError("a Quantity value must be a number")
    try:
        value = Decimal(str(number))
    except InvalidOperation:
        raise ConversionError("a Quantity value must be a number") from None
    if not value.is_finite():
        raise ConversionError("a Quantity value must be a finite number")
    for key in ("code", "unit", "system"):
        if key in q and not isinstance(q[key], str):
            raise ConversionError(f"a Quantity {key} must be a string")
    return Quantity(value, q.get("code") or q.get("unit") or "1")


def _datetime(text: Any) -> Any:
    parsed = DateTime.parse(text) if isinstance(text, str) else None
    if parsed is None:
        raise ConversionError("not a FHIR dateTime")
    return parsed


def _date(text: Any) -> Any:
    parsed = Date.parse(text) if isinstance(text, str) else None
    if parsed is None:
        raise ConversionError("not a FHIR date")
    return parsed


def _code(c: dict) -> Any:
    if not isinstance(c, dict):
        raise ConversionError("a Coding must be an object")
    for key in ("code", "system", "version", "display"):
        if key in c and not isinstance(c[key], str):
            raise ConversionError(f"a Coding {key} must be a string")
    if not c.get("code", "").strip():
        raise ConversionError("a Coding needs a code")
    return Code(c.get("code"), c.get("system"), c.get("version"), c.get("display"))


def _interval(low: Any, high: Any, point_type: str) -> Any:
    return Interval(low, high, True, True, point_type=point_type)


_STRING_TYPES = ("String", "Code", "Id", "Uri", "Url", "Canonical", "Markdown", "Oid", "Uuid")
#: FHIR R4 value[x] types an error message may name (any other `value…` key is the client's text)
_KNOWN_KINDS = {
    *_STRING_TYPES, "Base64Binary", "Boolean", "Date", "DateTime", "Decimal", "Instant",
    "Integer", "PositiveInt", "Time", "UnsignedInt", "Address", "Age", "Annotation", "Attachment",
    "CodeableConcept", "Coding", "ContactPoint", "Count", "Distance", "Duration", "HumanName",
    "Identifier", "Money", "Period", "Quantity", "Range", "Ratio", "Reference", "SampledData",
    "Signature", "Timing", "ContactDetail", "Contributor", "DataRequirement", "Expression",
    "ParameterDefinition", "RelatedArtifact", "TriggerDefinition", "UsageContext", "Dosage",
    "Meta",
}  # fmt: skip


def parameter_to_cql(parameter: dict) -> Any:
    """The CQL value of one Parameters.parameter (its single `value[x]`)."""
    keys = [k for k in parameter if k.startswith("value")]
    if len(keys) != 1:
        raise ConversionError("needs exactly one value[x]")
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
        codings = value.get("coding", [])
        if not isinstance(codings, list):
            raise ConversionError("a CodeableConcept coding must be a list")
        text = value.get("text")
        if text is not None and not isinstance(text, str):
            raise ConversionError("a CodeableConcept text must be a string")
        return Concept([_code(c) for c in codings], text)
    if kind == "Period" and isinstance(value, dict):
        low = _datetime(value["start"]) if value.get("start") else None
        high = _datetime(value["end"]) if value.get("end") else None
        return _interval(low, high, "DateTime")
    if kind == "Range" and isinstance(value, dict):
        low = _quantity(value["low"]) if value.get("low") else None
        high = _quantity(value["high"]) if value.get("high") else None
        return _interval(low, high, "Quantity")
    # The key is the client's (`value` + anything): named only when it is a FHIR type we know.
    named = key if kind in _KNOWN_KINDS else "this value[x] type"
    raise ConversionError(f"{named} is not supported as a CQL parameter value")


def parameters_to_cql(parameters: dict) -> dict[str, Any]:
    """A nested Parameters resource → {name: CQL value}; a repeated name becomes a List."""
    if not isinstance(parameters, dict) or parameters.get("resourceType") != "Parameters":
        raise ConversionError("`parameters` must be a Parameters resource")
    out: dict[str, Any] = {}
    repeated: set[str] = set()
    items = parameters.get("parameter", [])
    if not isinstance(items, list):
        raise ConversionError("Parameters.parameter must be a list")
    for i, p in enumerate(items):
        name = p.get("name") if isinstance(p, dict) else None
        if not isinstance(name, str) or not name:
            raise ConversionError(f"parameter[{i}]: every CQL parameter needs a name")
        if "part" in p:  # tuple-valued parameters are not supported (named by position)
            raise ConversionError(f"parameter[{i}]: part is not supported")
        try:
            value = parameter_to_cql(p)
        except ConversionError as exc:
            raise ConversionError(f"parameter[{i}]: {exc}") from None
        if name in out:
            if name not in repeated:
                out[name] = [out[name]]
                repeated.add(name)
            out[name].append(value)
        else:
            out[name] = value
    return out
