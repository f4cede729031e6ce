"""The order checks recognise orders made from our own ActivityDefinitions.

`AnalDilationOrderSafety."Home Dilation Activity Definitions"` lists the canonical URLs a
ServiceRequest, CarePlan or DeviceRequest may name in `instantiatesCanonical`; it must list exactly
the ActivityDefinitions of plandefinitions/ that propose a home program or a dilator set (code in
the home-dilator-program or dilator-device ValueSet), so a new one cannot be forgotten.
"""

from __future__ import annotations

from functools import cache

from service.apply import apply_plan_definition, load_knowledge
from tests.content.content import BASE, CONTENT_DIR, CQL_DIR, elm_libraries, of_type

PROGRAM_VALUE_SETS = {f"{BASE}/ValueSet/home-dilator-program", f"{BASE}/ValueSet/dilator-device"}


def listed_canonicals() -> set[str]:
    statements = elm_libraries()["AnalDilationOrderSafety"]["statements"]["def"]
    (node,) = (d for d in statements if d["name"] == "Home Dilation Activity Definitions")
    return {e["value"] for e in node["expression"]["element"]}


def program_codes() -> set[tuple[str, str]]:
    return {
        (c["system"], c["code"])
        for vs in of_type("ValueSet")
        if vs["url"] in PROGRAM_VALUE_SETS
        for c in vs["expansion"]["contains"]
    }


def test_the_order_checks_know_every_home_program_and_dilator_set_definition():
    codes = program_codes()
    expected = {
        ad["url"]
        for ad in of_type("ActivityDefinition")
        if any((c["system"], c["code"]) in codes for c in ad.get("code", {}).get("coding", []))
    }
    assert expected, "no home program ActivityDefinition found"
    assert listed_canonicals() == expected


# --- what "the orders of this call" means, through $apply on the real content ---------------

ABSCESS = {
    "resourceType": "Condition",
    "id": "abscess",
    "subject": {"reference": "Patient/p1"},
    "clinicalStatus": {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                "code": "active",
            }
        ]
    },
    "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "K61.2"}]},
}
PATIENT = {"resourceType": "Patient", "id": "p1", "birthDate": "1970-01-01"}
RED_FLAG = "order-home-program-during-red-flag"


def program(rid: str | None) -> dict:
    out = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "code": {
            "coding": [
                {"system": f"{BASE}/CodeSystem/anal-dilation-local", "code": "home-dilator-program"}
            ]
        },
    }
    return {**out, "id": rid} if rid else out


@cache
def content_kb():
    return load_knowledge(content_dir=CONTENT_DIR, cql_dir=CQL_DIR)


def red_flag_action(data: list[dict], parameters: dict | None) -> dict | None:
    kb = content_kb()
    (pd,) = (p for p in kb.plan_definitions if p["id"] == "anal-dilation-order-safety")
    result = apply_plan_definition(
        kb, pd, subject="Patient/p1", data=data, parameters=parameters, trigger="order-sign"
    )
    return next((a for a in result.request_group.get("action", []) if a["id"] == RED_FLAG), None)


def deletes(action: dict) -> list[str]:
    return [
        sub["resource"]["reference"]
        for child in action.get("action", [])
        for sub in child.get("action", [])
        if "resource" in sub
    ]


def test_an_order_without_an_id_is_checked_but_cannot_be_deleted():
    action = red_flag_action([PATIENT, ABSCESS, program(None)], {"Draft Orders": []})
    assert action is not None and deletes(action) == []


def test_without_draft_orders_a_record_draft_counts_as_an_order_as_before():
    """FHIR $apply without the parameter: status 'draft' is the only sign of an order."""
    action = red_flag_action([PATIENT, ABSCESS, program("stale")], None)
    assert action is not None and deletes(action) == ["ServiceRequest/stale"]
    assert red_flag_action([PATIENT, ABSCESS, program("stale")], {"Draft Orders": []}) is None
