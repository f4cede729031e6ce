"""Prefetch resolution exactly as CDS Hooks 2.0.1 specifies it.

For every prefetch template of the service:
- key present with a resource or a complete searchset Bundle → that data;
- key present and `null` → the client says there is no data;
- key present with an OperationOutcome → the client failed: fetch it ourselves if we can;
- a Bundle with a `next` link → follow it on the `fhirServer` base only (same origin, page cap);
  if it points elsewhere, fetch the whole query ourselves instead;
- key absent → fetch from `fhirServer` with the bearer token.
Data that is needed and cannot be obtained raises `DataUnavailable` (→ 412).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from service.fhirclient import (
    FhirAccessDenied,
    FhirFetchError,
    FhirSession,
    bundle_resources,
    next_link,
)

TOKEN = re.compile(r"\{\{\s*([A-Za-z.]+)\s*\}\}")
USER_TOKENS = {
    "userPractitionerId": "Practitioner",
    "userPractitionerRoleId": "PractitionerRole",
    "userPatientId": "Patient",
    "userRelatedPersonId": "RelatedPerson",
}


class DataUnavailable(Exception):
    def __init__(self, keys: list[str], reason: str) -> None:
        super().__init__(reason)
        self.keys = keys
        self.reason = reason


@dataclass
class PatientData:
    resources: list[dict] = field(default_factory=list)
    fetched: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)


def fill_template(template: str, context: dict) -> str | None:
    """The query with its tokens replaced, or None when a token has no value in this call."""
    missing = False

    def sub(m: re.Match) -> str:
        nonlocal missing
        name = m.group(1)
        value = None
        if name.startswith("context."):
            value = context.get(name[len("context.") :])
        elif name in USER_TOKENS:
            user = context.get("userId") or ""
            rtype, _, rid = user.partition("/")
            value = rid if rtype == USER_TOKENS[name] else None
        if not isinstance(value, str | int) or isinstance(value, bool) or value == "":
            missing = True
            return ""
        return str(value)

    out = TOKEN.sub(sub, template)
    return None if missing else out


def resolve(
    templates: dict[str, str],
    prefetch: dict | None,
    context: dict,
    fhir: FhirSession | None,
    no_fhir_reason: str = "no fhirServer in the request",
) -> PatientData:
    prefetch = prefetch or {}
    data = PatientData()
    seen: set[tuple[str, str]] = set()
    unavailable: list[str] = []
    reasons: list[str] = []

    def add(resources: list[dict]) -> None:
        for r in resources:
            rid = r.get("id")
            if rid is not None:
                k = (r.get("resourceType"), rid)
                if k in seen:
                    continue
                seen.add(k)
            data.resources.append(r)

    for key, template in templates.items():
        query = fill_template(template, context)
        if query is None:
            data.empty.append(key)
            continue
        if key in prefetch:
            value = prefetch[key]
            if value is None:
                data.empty.append(key)
                continue
            got = _from_prefetch(value, fhir)
            if got is not None:
                add(got)
                continue
        if fhir is None:
            unavailable.append(key)
            reasons.append(no_fhir_reason)
            continue
        try:
            add(fhir.fetch(query))
            data.fetched.append(key)
        except (FhirFetchError, FhirAccessDenied) as e:
            unavailable.append(key)
            reasons.append(str(e))
    if unavailable:
        raise DataUnavailable(unavailable, "; ".join(sorted(set(reasons))))
    return data


def _from_prefetch(value, fhir: FhirSession | None) -> list[dict] | None:
    """Resources of a prefetch value, or None when it must be fetched again."""
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        return None
    rtype = value["resourceType"]
    if rtype == "OperationOutcome":
        return None
    if rtype != "Bundle":
        return [value]
    if not next_link(value):
        return bundle_resources(value)
    if fhir is None:
        return None
    try:
        return fhir.resources_of(value)
    except (FhirFetchError, FhirAccessDenied):
        return None
