"""Write plain CQL parameter values ({"Severe Pain Score": 9}) as the FHIR Parameters resource a
deployment puts in CDS_CQL_PARAMETERS[_FILE] (the shape of $apply's `parameters`)."""

from __future__ import annotations

from typing import Any


def parameters_resource(values: dict[str, Any]) -> dict:
    """int → valueInteger, float → valueDecimal, bool → valueBoolean, str → valueString; a list
    repeats the name once per element (a CQL List)."""
    items = []
    for name, value in values.items():
        for v in value if isinstance(value, list) else [value]:
            items.append({"name": name, _value_key(v): v})
    return {"resourceType": "Parameters", "parameter": items}


def _value_key(v: Any) -> str:
    if isinstance(v, bool):
        return "valueBoolean"
    if isinstance(v, int):
        return "valueInteger"
    if isinstance(v, float):
        return "valueDecimal"
    if isinstance(v, str):
        return "valueString"
    raise TypeError(f"no FHIR value[x] for {v!r} here")
