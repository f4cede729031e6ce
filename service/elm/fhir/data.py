"""One request's FHIR resources, indexed by type once (and by code lazily).

Resources stay the request's own JSON dicts: never copied, never validated again here (the
edge validated them). A Bundle, a list of resources, a single resource or None are accepted.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class PatientData:
    """Resources of one patient by resourceType; `patient` is the Patient resource (or None)."""

    __slots__ = ("by_type", "code_index", "patient")

    def __init__(self, resources: Iterable[dict] = ()) -> None:
        by_type: dict[str, list[dict]] = {}
        for r in resources:
            if isinstance(r, dict):
                by_type.setdefault(r.get("resourceType") or "", []).append(r)
        self.by_type = by_type
        patients = by_type.get("Patient") or []
        self.patient: dict | None = patients[0] if patients else None
        self.code_index: dict[tuple[str, str], dict[Any, list[dict]]] = {}

    @classmethod
    def from_any(cls, data: Any) -> PatientData:
        """Accept PatientData, a Bundle, a list of resources, one resource, or None."""
        if isinstance(data, PatientData):
            return data
        if data is None:
            return cls(())
        if isinstance(data, dict):
            if data.get("resourceType") == "Bundle":
                return cls(_bundle_resources(data))
            return cls((data,))
        if isinstance(data, list):
            out: list[dict] = []
            for r in data:
                if isinstance(r, dict) and r.get("resourceType") == "Bundle":
                    out.extend(_bundle_resources(r))
                else:
                    out.append(r)
            return cls(out)
        raise TypeError(f"unsupported patient data: {type(data).__name__}")

    def resources(self, resource_type: str) -> list[dict]:
        """All resources of one type (the list is shared: callers must not mutate it)."""
        return self.by_type.get(resource_type) or []


def _bundle_resources(bundle: dict) -> list[dict]:
    out: list[dict] = []
    for e in bundle.get("entry") or []:
        r = e.get("resource") if isinstance(e, dict) else None
        if isinstance(r, dict):
            if r.get("resourceType") == "Bundle":
                out.extend(_bundle_resources(r))
            else:
                out.append(r)
    return out
