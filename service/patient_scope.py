"""Which resources of a request are not about the patient the request is about.

Why this exists: a hook call (or an `$apply`) is about exactly one patient, but its data come
from several places: the client's prefetch, the EHR's FHIR server, the order hooks'
`draftOrders`, a pasted or posted Bundle. The logic evaluates everything it is given as *the*
patient's record: it cannot tell that a Condition belongs to somebody else. A mix-up anywhere
upstream (an EHR bug, a prefetch cached from the previous chart, a FHIR server that ignores the
`patient` search parameter) would let another patient's findings drive the cards shown for this
patient: a safety and a privacy failure that no clinical rule can detect. So every resource is
checked against the patient before evaluation, and a mismatch stops the call instead of being
dropped silently (silently dropping data could hide a red flag just as well).

The rule, kept to what R4 makes the patient link of a resource:
- a `Patient` must have the patient's id;
- `subject` and `patient` (any resource type), and `for` (Task), `beneficiary` (Coverage),
  `individual` (ResearchSubject) must reference that Patient: `Patient/123`,
  `https://host/fhir/Patient/123`, either with `/_history/n`, or a Bundle `fullUrl` (e.g.
  `urn:uuid:...`) whose entry is that Patient. Anything else (another Patient, a Group, a
  Location, a contained `#ref`, an identifier-only or malformed reference) is a mismatch;
- a resource without such an element (Practitioner, Medication, Organization...) passes;
- a `Bundle` (nested in a Bundle: a `batch-response`, a `collection` entry) belongs when every
  resource in it does, recursively (the logic reads nested Bundles' entries);
- `contained` resources are not inspected (they only mean something through their container).

Pure functions over plain dicts; the HTTP faces decide the status (docs/cds-hooks.md).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: Elements that link a resource of any type to its patient.
LINK_ELEMENTS: tuple[str, ...] = ("subject", "patient")
#: The patient link of types whose link has another name.
TYPE_LINK_ELEMENTS: Mapping[str, tuple[str, ...]] = {
    "Task": ("for",),
    "Coverage": ("beneficiary",),
    "ResearchSubject": ("individual",),
}

_PATIENT_REFERENCE = re.compile(
    r"^(?:[A-Za-z][A-Za-z0-9+.\-]*://[^/?#]+(?:/[^?#]*)?/)?"  # optional absolute base
    r"Patient/([^/?#]+)"
    r"(?:/_history/[^/?#]+)?$"
)
_RESOURCE_TYPE = re.compile(r"^[A-Z][A-Za-z]{0,63}$")
UNKNOWN_TYPE = "(unknown type)"


def patient_id_of(reference: Any) -> str | None:
    """The Patient id a literal reference string points at, else None.

    >>> patient_id_of("https://ehr.example/fhir/Patient/123/_history/2")
    '123'
    >>> patient_id_of("Group/123") is None
    True
    """
    if not isinstance(reference, str):
        return None
    m = _PATIENT_REFERENCE.match(reference.strip())
    return m.group(1) if m else None


def _refers_to(value: Any, patient_id: str, aliases: Mapping[str, str]) -> bool:
    if isinstance(value, list):
        return all(_refers_to(v, patient_id, aliases) for v in value)
    if not isinstance(value, dict):
        return False
    ref = value.get("reference")
    if not isinstance(ref, str):
        return False
    if ref.startswith("Patient/") and ref[8:] == patient_id:  # the common case, without a regex
        return True
    return patient_id_of(aliases.get(ref.strip(), ref)) == patient_id


def belongs_to(
    resource: Mapping[str, Any], patient_id: str, aliases: Mapping[str, str] | None = None
) -> bool:
    """True when nothing in `resource` says it is about anyone but Patient/`patient_id`.

    `aliases` maps Bundle `fullUrl`s to `Type/id` (see `bundle_aliases`), so that `urn:uuid:`
    references inside one Bundle resolve."""
    aliases = aliases or {}
    rtype = resource.get("resourceType")
    if rtype == "Patient":
        return resource.get("id") == patient_id
    if rtype == "Bundle":  # the logic reads nested Bundles' entries: so does this check
        inner = {**aliases, **bundle_aliases(resource)}
        return all(
            belongs_to(e["resource"], patient_id, inner)
            for e in resource.get("entry") or ()
            if isinstance(e, dict) and isinstance(e.get("resource"), dict)
        )
    extra = TYPE_LINK_ELEMENTS.get(rtype, ()) if isinstance(rtype, str) else ()
    elements = LINK_ELEMENTS + extra
    for name in elements:
        value = resource.get(name)
        if value is None or value == []:
            continue
        if not _refers_to(value, patient_id, aliases):
            return False
    return True


def bundle_aliases(bundle: Any) -> dict[str, str]:
    """`fullUrl` → `Type/id` for the entries of a Bundle whose resource has a type and id."""
    out: dict[str, str] = {}
    if not isinstance(bundle, dict):
        return out
    for entry in bundle.get("entry") or ():
        if not isinstance(entry, dict) or not isinstance(entry.get("fullUrl"), str):
            continue
        res = entry.get("resource")
        if isinstance(res, dict) and isinstance(res.get("id"), str):
            out[entry["fullUrl"]] = f"{res.get('resourceType')}/{res['id']}"
    return out


def type_label(resource: Mapping[str, Any]) -> str:
    """The resource type, safe to name in a message, a log or a metric (never a value)."""
    rtype = resource.get("resourceType")
    return rtype if isinstance(rtype, str) and _RESOURCE_TYPE.match(rtype) else UNKNOWN_TYPE


@dataclass(frozen=True)
class Mismatch:
    """One resource that is not the patient's: where it came from, never what it holds.

    `source` is the channel ("prefetch", "fetched", "draftOrders", "data"); `where` names the
    place in the request (a prefetch key, "context.draftOrders"); `resource_type` is sanitised.
    """

    source: str
    where: str
    resource_type: str


def mismatches(
    resources: Iterable[Mapping[str, Any]],
    patient_id: str,
    *,
    source: str,
    where: str,
    aliases: Mapping[str, str] | None = None,
) -> list[Mismatch]:
    """A `Mismatch` for every resource that does not belong to Patient/`patient_id`."""
    return [
        Mismatch(source, where, type_label(r))
        for r in resources
        if not belongs_to(r, patient_id, aliases)
    ]


def counts_by_source(found: Iterable[Mismatch]) -> dict[str, dict[str, int]]:
    """{source: {resource type: count}}: what a log record or a metric may carry."""
    out: dict[str, Counter[str]] = {}
    for m in found:
        out.setdefault(m.source, Counter())[m.resource_type] += 1
    return {s: dict(sorted(c.items())) for s, c in sorted(out.items())}


def describe(found: Iterable[Mismatch], patient: str = "context.patientId") -> list[str]:
    """One line per place and type, e.g. "prefetch key 'Condition': 2 Condition resource(s)
    not about context.patientId" (keys and types only: no id or other request value)."""
    counts = Counter((m.where, m.resource_type) for m in found)
    return [
        f"{where}: {n} {rtype} resource(s) not about {patient}"
        for (where, rtype), n in sorted(counts.items())
    ]
