"""One request's FHIR resources, indexed by type once (and by code lazily).

Resources stay the request's own JSON dicts, never validated again here (the edge validated
them), with one exception: codings recorded in an EHR shape (an OID as system, `K625` for
`K62.5`, a Condition status without its system) are put in canonical form first
(`service.elm.fhir.codings`), and a resource that needs that is replaced by a copy in which
only the changed path is new. Nothing the caller passed in is ever mutated. A Bundle, a list of
resources, a single resource or None are accepted.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from service.elm.fhir.codings import normalize_resources


class PatientData:
    """Resources of one patient by resourceType; `patient` is the Patient resource (or None)."""

    __slots__ = ("by_type", "code_index", "patient")

    def __init__(self, resources: Iterable[dict] = ()) -> None:
        by_type: dict[str, list[dict]] = {}
        # codings in canonical form first (copy-on-write: the caller's dicts never change)
        for r in normalize_resources(resources):
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
