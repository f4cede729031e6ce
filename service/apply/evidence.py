"""Pertinent evidence: the resources that made an action applicable, as RequestGroup extensions.

Each resource returned by the action's evidence definition becomes one extension
`{base}/StructureDefinition/pertinent-evidence` with `valueReference`
`{"reference": "Condition/123", "display": "<summary>"}`. The summary is readable by a clinician:
the code's display (text, else a coding display, else the display our terminology gives the
code, else `CPT 46260`-style system name and code), then the relevant value
(`8`, `12 mm[Hg]`, a coded value's display) and date (onset, effective, performed, authored,
recorded; date part only), e.g. `Stenosis of anal canal (disorder), onset 2026-09-01`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from service import conventions

EVIDENCE_EXTENSION = conventions.PERTINENT_EVIDENCE

_DATE_FIELDS = (
    ("onsetDateTime", "onset"),
    ("onsetPeriod", "onset"),
    ("effectiveDateTime", None),
    ("effectivePeriod", None),
    ("effectiveInstant", None),
    ("performedDateTime", "performed"),
    ("performedPeriod", "performed"),
    ("occurrenceDateTime", None),
    ("authoredOn", "ordered"),
    ("recordedDate", "recorded"),
    ("issued", None),
    ("created", "created"),
)
_CODE_FIELDS = (
    "code",
    "medicationCodeableConcept",
    "codeCodeableConcept",
    "vaccineCode",
    "type",
    "category",
)


#: Short names of code systems for codes that have no display anywhere (e.g. CPT, whose
#: descriptors are licensed and never stored).
SYSTEM_NAMES = {
    "http://snomed.info/sct": "SNOMED CT",
    "http://loinc.org": "LOINC",
    "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM",
    "http://hl7.org/fhir/sid/icd-10": "ICD-10",
    "http://www.ama-assn.org/go/cpt": "CPT",
    "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets": "HCPCS",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
}

Lookup = Callable[[str | None, str | None], str | None]


def _no_lookup(system: str | None, code: str | None) -> str | None:
    return None


def concept_text(concept: Any, lookup: Lookup = _no_lookup) -> str | None:
    """text, else the first coding display, else our terminology's display, else
    `<system name> <code>`."""
    if isinstance(concept, list):
        concept = concept[0] if concept else None
    if not isinstance(concept, dict):
        return None
    if concept.get("text"):
        return str(concept["text"])
    codings = [c for c in concept.get("coding") or [] if isinstance(c, dict)]
    for coding in codings:
        if coding.get("display"):
            return str(coding["display"])
    for coding in codings:
        found = lookup(coding.get("system"), coding.get("code"))
        if found:
            return found
    for coding in codings:
        if coding.get("code"):
            name = SYSTEM_NAMES.get(coding.get("system") or "")
            return f"{name} {coding['code']}" if name else str(coding["code"])
    return None


def _date(value: Any) -> str | None:
    if isinstance(value, str):
        return value[:10]
    if isinstance(value, dict):
        start = value.get("start") or value.get("end")
        return start[:10] if isinstance(start, str) else None
    return None


def _quantity(q: dict) -> str | None:
    if q.get("value") is None:
        return None
    unit = q.get("unit") or q.get("code")
    return f"{q['value']} {unit}" if unit and unit != "1" else str(q["value"])


def value_text(resource: dict, lookup: Lookup = _no_lookup) -> str | None:
    for key, value in resource.items():
        if not key.startswith("value"):
            continue
        if key == "valueQuantity" and isinstance(value, dict):
            return _quantity(value)
        if key == "valueCodeableConcept":
            return concept_text(value, lookup)
        if key in ("valueInteger", "valueDecimal", "valueString", "valueBoolean"):
            return str(value).lower() if isinstance(value, bool) else str(value)
    if resource.get("interpretation"):
        return concept_text(resource["interpretation"], lookup)
    return None


def summary(resource: dict, lookup: Lookup = _no_lookup) -> str:
    """A one-line human-readable summary of a FHIR resource."""
    label = None
    for key in _CODE_FIELDS:
        label = concept_text(resource.get(key), lookup)
        if label:
            break
    parts = [label or resource.get("resourceType", "Resource")]
    value = value_text(resource, lookup)
    if value:
        parts[0] += f": {value}"
    for key, word in _DATE_FIELDS:
        date = _date(resource.get(key))
        if date:
            parts.append(f"{word} {date}" if word else date)
            break
    return ", ".join(parts)


def evidence_extension(value: Any, lookup: Lookup = _no_lookup) -> list[dict]:
    """Extensions for an evidence definition's result (a resource, a list of them, or null).
    Items that are not identifiable resources are skipped; duplicates appear once."""
    items = value if isinstance(value, list) else [value]
    out, seen = [], set()
    for item in items:
        if not isinstance(item, dict) or not item.get("resourceType") or not item.get("id"):
            continue
        ref = f"{item['resourceType']}/{item['id']}"
        if ref in seen:
            continue
        seen.add(ref)
        out.append(
            {
                "url": EVIDENCE_EXTENSION,
                "valueReference": {"reference": ref, "display": summary(item, lookup)},
            }
        )
    return out
