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
| Quantity | `{"@type": "Quantity", "value": 5, "unit": "mg"}` (no unit: `"1"`) |
| Ratio | `{"@type": "Ratio", "numerator": Q, "denominator": Q}` |
| Interval | `{"@type": "Interval", "low": x, "high": y, "lowClosed": b, "highClosed": b}` |
| Uncertainty | `{"@type": "Uncertainty", "low": n, "high": n}` (a point is the plain number) |
| Code | `{"@type": "Code", "code", "system", "version", "display"}` (absent: `null`) |
| Concept | `{"@type": "Concept", "codes": [Code...], "display"}` |
| Tuple | `{"@type": "Tuple", "elements": {name: value}}` (sorted; null elements left out) |
| List | JSON array, in order |
| FHIR resource / element | its FHIR JSON as received (cql-exec-fhir: `FHIRObject._json`) |

Numbers lose the Integer/Decimal distinction because cql-execution represents both as JavaScript
numbers; the conformance runner checks CQL types separately.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

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


def _two(n: int) -> str:
    return f"{n:02d}"


def _offset_text(offset: Any) -> str | None:
    """`+HH:MM` from an offset given as a timedelta, hours (number) or minutes (`*_minutes`)."""
    if offset is None:
        return None
    if isinstance(offset, dt.timedelta):
        minutes = round(offset.total_seconds() / 60)
    else:
        minutes = round(Decimal(str(offset)) * 60)
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return f"{sign}{_two(minutes // 60)}:{_two(minutes % 60)}"


def _get(v: Any, *names: str) -> Any:
    for n in names:
        if hasattr(v, n):
            return getattr(v, n)
    return None


def _date_text(v: Any) -> str:
    year, month, day = v.year, _get(v, "month"), _get(v, "day")
    text = f"{year:04d}"
    if month is not None:
        text += f"-{_two(month)}"
        if day is not None:
            text += f"-{_two(day)}"
    return text


def _time_text(v: Any) -> str:
    hour, minute = _get(v, "hour"), _get(v, "minute")
    second, ms = _get(v, "second"), _get(v, "millisecond")
    if hour is None:
        return ""
    text = _two(hour)
    if minute is not None:
        text += f":{_two(minute)}"
        if second is not None:
            text += f":{_two(second)}"
            if ms is not None:
                text += f".{ms:03d}"
    return text


def _datetime_text(v: Any) -> str:
    text = _date_text(v)
    if _get(v, "day") is None or _get(v, "hour") is None:
        return text
    text += "T" + _time_text(v)
    offset = _get(v, "offset", "tz_offset", "timezone_offset")
    if offset is None and _get(v, "offset_minutes") is not None:
        offset = dt.timedelta(minutes=v.offset_minutes)
    suffix = _offset_text(offset)
    return text + (suffix or "")


def _tuple(items: Any) -> dict:
    elements = {}
    for k in sorted(items):
        c = to_canonical(items[k])
        if c is not None:
            elements[k] = c
    return {"@type": "Tuple", "elements": elements}


def to_canonical(value: Any) -> Any:
    """The canonical JSON of a CQL value (see the module docstring)."""
    from service.elm.datatypes import Code, Concept, Tuple

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
        unit = v.unit if v.unit not in (None, "") else "1"
        return {"@type": "Quantity", "value": canonical_number(v.value), "unit": unit}
    if kind == "Ratio":
        return {
            "@type": "Ratio",
            "numerator": to_canonical(v.numerator),
            "denominator": to_canonical(v.denominator),
        }
    if kind == "DateTime":
        return {"@type": "DateTime", "value": _datetime_text(v)}
    if kind == "Date":
        return {"@type": "Date", "value": _date_text(v)}
    if kind == "Time":
        return {"@type": "Time", "value": _time_text(v)}
    if isinstance(v, dt.datetime):
        return {"@type": "DateTime", "value": v.isoformat(timespec="milliseconds")}
    if kind in ("ValueSetRef", "ValueSet"):
        return {"@type": "ValueSet", "id": _get(v, "id", "url"), "version": _get(v, "version")}
    if isinstance(v, float):
        return canonical_number(v)
    raise TypeError(f"no canonical form for {kind}: {v!r}")
