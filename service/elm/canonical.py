"""A canonical JSON form of CQL values, shared with the reference engine's test helper.

`to_canonical(value)` turns any value our engine produces into plain JSON; the Node helper
(`cql/scripts/oracle.mjs`, function `canonical`) produces the same form from cql-execution
values, so differential tests compare the two results as JSON. The form:

| CQL value | canonical JSON |
|---|---|
| null | `null` |
| Boolean, String | `true` / `"text"` |
| Integer, Long, Decimal | a JSON number: integral values as integers, others rounded to 8 places |
| Date | `{"@type": "Date", "value": "2024-03"}` (ISO text at the value's precision) |
| DateTime | `{"@type": "DateTime", "value": "2024-03-01T10:30:00.000+01:00"}` |
| Time | `{"@type": "Time", "value": "10:30"}` |
| Quantity | `{"@type": "Quantity", "value": 5, "unit": "mg"}` (no unit: `"1"`; `months`: `month`) |
| Ratio | `{"@type": "Ratio", "numerator": Q, "denominator": Q}` |
| Interval | `{"@type": "Interval", "low": x, "high": y, "lowClosed": b, "highClosed": b}` |
| Uncertainty | `{"@type": "Uncertainty", "low": n, "high": n}` (a point is the plain number) |
| Code | `{"@type": "Code", "code", "system", "version", "display"}` (absent: `null`) |
| Concept | `{"@type": "Concept", "codes": [Code...], "display"}` |
| Tuple | `{"@type": "Tuple", "elements": {name: value}}` (sorted; null elements left out) |
| List | JSON array, in order |
| FHIR resource / element | its FHIR JSON as received (cql-exec-fhir: `FHIRObject._json`) |
| FHIR primitive (date, code…) | its JSON value (`"1968-07-14"`); cql-exec-fhir: `_json.value` |

Numbers lose the Integer/Decimal distinction because cql-execution represents both as JavaScript
numbers; the conformance runner checks CQL types separately.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from service.elm.datatypes import Code, Concept, Tuple
from service.elm.datatypes.interval import Interval
from service.elm.datatypes.quantity import Quantity, Ratio
from service.elm.datatypes.temporal import Date, DateTime, Time
from service.elm.units import PLURAL_TO_SINGULAR

DECIMAL_PLACES = 8


def canonical_number(n: int | Decimal | float) -> int | float:
    if isinstance(n, bool):
        raise TypeError("a Boolean is not a number")
    if isinstance(n, int):
        return int(n)
    d = Decimal(n)
    if not d.is_finite():
        raise ValueError(f"not a finite number: {n!r}")
    if d == d.to_integral_value():
        return int(d)
    return round(float(d), DECIMAL_PLACES)


CALENDAR_PLURALS = PLURAL_TO_SINGULAR  # the one table: service.elm.units


def canonical_unit(unit: str | None) -> str:
    """`'1'` for no unit; CQL calendar units in the singular (`3 months` = `3 month`)."""
    if unit in (None, ""):
        return "1"
    return CALENDAR_PLURALS.get(unit, unit)


def _tuple(items: Any) -> dict:
    elements = {}
    for k in sorted(items):
        c = to_canonical(items[k])
        if c is not None:
            elements[k] = c
    return {"@type": "Tuple", "elements": elements}


def to_canonical(value: Any) -> Any:
    """The canonical JSON of a CQL value (see the module docstring)."""
    v = value
    if v is None or isinstance(v, bool | str):
        return v
    if isinstance(v, int | Decimal):
        return canonical_number(v)
    if isinstance(v, list | tuple):
        return [to_canonical(x) for x in v]
    if isinstance(v, Tuple):
        return _tuple(v)
    if isinstance(v, dict):  # FHIR JSON as received
        return v
    if isinstance(v, Code):
        return {
            "@type": "Code",
            "code": v.code,
            "system": v.system,
            "version": v.version,
            "display": v.display,
        }
    if isinstance(v, Concept):
        return {
            "@type": "Concept",
            "codes": [to_canonical(c) for c in v.codes],
            "display": v.display,
        }
    kind = type(v).__name__
    if kind == "FhirChoice":  # a choice element's value, tagged with its FHIR type
        return to_canonical(v.value)
    if kind == "Uncertainty":
        if v.low == v.high:
            return to_canonical(v.low)
        return {"@type": "Uncertainty", "low": to_canonical(v.low), "high": to_canonical(v.high)}
    if kind == "Interval":
        return {
            "@type": "Interval",
            "low": to_canonical(v.low),
            "high": to_canonical(v.high),
            "lowClosed": bool(v.low_closed),
            "highClosed": bool(v.high_closed),
        }
    if kind == "Quantity":
        return {
            "@type": "Quantity",
            "value": canonical_number(v.value),
            "unit": canonical_unit(v.unit),
        }
    if kind == "Ratio":
        return {
            "@type": "Ratio",
            "numerator": to_canonical(v.numerator),
            "denominator": to_canonical(v.denominator),
        }
    if isinstance(v, DateTime | Date | Time):
        # ISO text at the value's precision; a DateTime shows its offset only with an hour,
        # exactly as cql-execution's toString() does.
        return {"@type": kind, "value": str(v)}
    if isinstance(v, dt.datetime):
        return to_canonical(DateTime.from_python(v))
    if kind in ("ValueSetRef", "ValueSet"):
        return {
            "@type": "ValueSet",
            "id": getattr(v, "id", None) or getattr(v, "url", None),
            "version": getattr(v, "version", None),
        }
    if isinstance(v, float):
        return canonical_number(v)
    raise TypeError(f"no canonical form for {kind}: {v!r}")


def from_canonical(c: Any) -> Any:
    """The CQL value of a canonical JSON form (for parameters given as JSON).

    Values that are not canonical JSON (already CQL values) are returned unchanged; a dict
    without ``@type`` is FHIR JSON and stays a dict. Numbers: JSON integers become Integer,
    other numbers Decimal.
    """
    if c is None or isinstance(c, bool | str | int | Decimal):
        return c
    if isinstance(c, float):
        return Decimal(repr(c))
    if isinstance(c, list):
        return [from_canonical(x) for x in c]
    if not isinstance(c, dict) or "@type" not in c:
        return c
    kind = c["@type"]
    if kind == "DateTime":
        return DateTime.parse(c["value"])
    if kind == "Date":
        return Date.parse(c["value"])
    if kind == "Time":
        return Time.parse(c["value"])
    if kind == "Code":
        return Code(c.get("code"), c.get("system"), c.get("version"), c.get("display"))
    if kind == "Concept":
        return Concept([from_canonical(x) for x in c.get("codes") or []], c.get("display"))
    if kind == "Tuple":
        return Tuple({k: from_canonical(v) for k, v in c["elements"].items()})
    if kind == "Quantity":
        return Quantity(Decimal(str(c["value"])), c.get("unit") or "1")
    if kind == "Ratio":
        return Ratio(from_canonical(c["numerator"]), from_canonical(c["denominator"]))
    if kind == "Interval":
        return Interval(
            from_canonical(c.get("low")),
            from_canonical(c.get("high")),
            bool(c.get("lowClosed", True)),
            bool(c.get("highClosed", True)),
        )
    raise ValueError(f"no CQL value for canonical type {kind!r}")
