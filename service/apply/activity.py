"""ActivityDefinition `$apply`: the proposed request resource for one subject.

The resource gets `status` draft, the ActivityDefinition's `intent` (default proposal), the subject
(`subject`, `for` or `patient` depending on the type), `instantiatesCanonical`, and the
ActivityDefinition's code/product, priority, timing, dosage, quantity, bodySite and description
mapped onto the request type; then every `dynamicValue` is set at its path (`a.b`, `a[0].b`).
"""

from __future__ import annotations

import copy
import re
from typing import Any

#: kind → (subject element, requester element, code element, has intent, has instantiatesCanonical)
SUPPORTED_KINDS: dict[str, tuple[str | None, str | None, str | None, bool, str | None]] = {
    "ServiceRequest": ("subject", "requester", "code", True, "list"),
    "DeviceRequest": ("subject", "requester", "codeCodeableConcept", True, "list"),
    "MedicationRequest": ("subject", "requester", "medicationCodeableConcept", True, "list"),
    "Task": ("for", "requester", "code", True, "single"),
    "CarePlan": ("subject", "author", None, True, "list"),
    "CommunicationRequest": ("subject", "requester", None, False, None),
    "NutritionOrder": ("patient", "orderer", None, True, "list"),
    "SupplyRequest": (None, "requester", "itemCodeableConcept", False, None),
}
#: ActivityDefinition.timing[x] → the request's element, per type.
_OCCURRENCE = {
    "ServiceRequest": {"timingTiming": "occurrenceTiming", "timingDateTime": "occurrenceDateTime",
                       "timingPeriod": "occurrencePeriod"},
    "DeviceRequest": {"timingTiming": "occurrenceTiming", "timingDateTime": "occurrenceDateTime",
                      "timingPeriod": "occurrencePeriod"},
    "SupplyRequest": {"timingTiming": "occurrenceTiming", "timingDateTime": "occurrenceDateTime",
                      "timingPeriod": "occurrencePeriod"},
    "CommunicationRequest": {"timingDateTime": "occurrenceDateTime",
                             "timingPeriod": "occurrencePeriod"},
    "Task": {"timingPeriod": "executionPeriod"},
    "CarePlan": {"timingPeriod": "period"},
}  # fmt: skip
_HAS_PRIORITY = {"ServiceRequest", "DeviceRequest", "MedicationRequest", "Task",
                 "CommunicationRequest", "SupplyRequest"}  # fmt: skip
_SEGMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?$")


class PathError(ValueError):
    """A dynamicValue path cannot be set."""


def base_resource(
    ad: dict,
    canonical: str,
    *,
    resource_id: str,
    subject: str,
    encounter: str | None,
    practitioner: str | None,
    authored_on: str,
) -> dict:
    """The request resource before dynamic values."""
    kind = ad["kind"]
    subject_el, requester_el, code_el, has_intent, inst = SUPPORTED_KINDS[kind]
    r: dict[str, Any] = {"resourceType": kind, "id": resource_id}
    if inst == "list":
        r["instantiatesCanonical"] = [canonical]
    elif inst == "single":
        r["instantiatesCanonical"] = canonical
    r["status"] = "draft"
    if has_intent:
        r["intent"] = ad.get("intent") or "proposal"
    if kind in _HAS_PRIORITY and ad.get("priority"):
        r["priority"] = ad["priority"]
    code = ad.get("productCodeableConcept") if kind != "ServiceRequest" else None
    code = code or ad.get("code")
    if code_el and code:
        r[code_el] = copy.deepcopy(code)
    if kind == "Task" and ad.get("description"):
        r["description"] = ad["description"]
    if kind == "CarePlan":
        for k in ("title", "description"):
            if ad.get(k):
                r[k] = ad[k]
    if kind == "CommunicationRequest" and ad.get("description"):
        r["payload"] = [{"contentString": ad["description"]}]
    if subject_el:
        r[subject_el] = {"reference": subject}
    if encounter and kind != "SupplyRequest":
        r["encounter"] = {"reference": encounter}
    for src, dst in _OCCURRENCE.get(kind, {}).items():
        if src in ad:
            r[dst] = copy.deepcopy(ad[src])
    if (
        kind in ("ServiceRequest", "DeviceRequest", "MedicationRequest", "SupplyRequest")
        or kind == "Task"
    ):
        r["authoredOn"] = authored_on
    elif kind == "CarePlan":
        r["created"] = authored_on
    elif kind == "NutritionOrder":
        r["dateTime"] = authored_on
    if practitioner and requester_el:
        r[requester_el] = {"reference": practitioner}
    if kind == "ServiceRequest":
        if ad.get("doNotPerform") is not None:
            r["doNotPerform"] = ad["doNotPerform"]
        if ad.get("bodySite"):
            r["bodySite"] = copy.deepcopy(ad["bodySite"])
        if ad.get("quantity"):
            r["quantityQuantity"] = copy.deepcopy(ad["quantity"])
    if kind == "MedicationRequest" and ad.get("dosage"):
        r["dosageInstruction"] = copy.deepcopy(ad["dosage"])
    if kind == "SupplyRequest":
        r["quantity"] = copy.deepcopy(ad.get("quantity") or {"value": 1})
    return r


def set_path(resource: dict, path: str, value: Any) -> None:
    """Set `value` at a simple FHIRPath-like path (`a.b.c`, `a[0].b`). A path starting with the
    resource type (`ServiceRequest.note`) is accepted. Missing parents are created."""
    segments = path.split(".")
    if segments and segments[0] == resource.get("resourceType"):
        segments = segments[1:]
    if not segments:
        raise PathError(f"empty path {path!r}")
    node: Any = resource
    for i, seg in enumerate(segments):
        m = _SEGMENT.match(seg)
        if not m:
            raise PathError(f"unsupported path segment {seg!r} in {path!r}")
        name, index = m.group(1), m.group(2)
        last = i == len(segments) - 1
        if index is None:
            if last:
                node[name] = value
                return
            nxt = node.get(name)
            if isinstance(nxt, list):  # a repeating element without index: its first item
                if not nxt:
                    nxt.append({})
                nxt = nxt[0]
            elif not isinstance(nxt, dict):
                nxt = node[name] = {}
            node = nxt
        else:
            items = node.get(name)
            if not isinstance(items, list):
                items = node[name] = []
            idx = int(index)
            while len(items) <= idx:
                items.append({})
            if last:
                items[idx] = value
                return
            if not isinstance(items[idx], dict):
                items[idx] = {}
            node = items[idx]
