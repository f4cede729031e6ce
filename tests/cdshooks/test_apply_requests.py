"""One hook → $apply mapping (service/apply/requests.py), used by CDS Hooks and by the preview's
evidence view; the FHIR face builds the same `ApplyRequest` from its Parameters resource.

A hook call becomes: subject `Patient/{patientId}`, encounter `Encounter/{encounterId}`, the
user as practitioner when it is a Practitioner(Role), the patient's data plus the draft orders
(order hooks), the CQL parameters `Draft Orders` (order hooks: `Type/id` of every draftOrders
entry) and `Selections` (order-select), and the hook as trigger.
"""

from __future__ import annotations

import pytest

from service.apply.requests import (
    ApplyRequest,
    apply_request_for_hook,
    draft_orders,
    hook_parameters,
)
from service.fhirapi.parameters import parse_apply_parameters
from tests.cdshooks.conftest import SERVICE, full_prefetch, pain, patient_view

PAIN = {"resourceType": "Observation", "id": "o1", "subject": {"reference": "Patient/p1"}}


def draft(rid: str) -> dict:
    return {"resourceType": "ServiceRequest", "id": rid, "status": "draft", "intent": "order"}


def drafts_bundle(*rids: str) -> dict:
    return {"resourceType": "Bundle", "entry": [{"resource": draft(r)} for r in rids]}


def context(**extra) -> dict:
    return {"userId": "Practitioner/u1", "patientId": "p1", **extra}


def test_patient_view_applies_the_data_for_the_patient_triggered_by_the_hook():
    req = apply_request_for_hook("patient-view", context(encounterId="e1"), [PAIN])
    assert req.arguments() == {
        "subject": "Patient/p1",
        "data": [PAIN],
        "encounter": "Encounter/e1",
        "practitioner": "Practitioner/u1",
        "parameters": None,
        "now": None,
        "trigger": "patient-view",
    }


def test_order_sign_adds_the_draft_orders_to_the_data_and_names_them():
    ctx = context(draftOrders=drafts_bundle("d1", "d2"))
    req = apply_request_for_hook("order-sign", ctx, [PAIN])
    assert req.data == [PAIN, draft("d1"), draft("d2")]
    assert req.arguments()["parameters"] == {
        "Draft Orders": ["ServiceRequest/d1", "ServiceRequest/d2"]
    }
    assert req.trigger == "order-sign"


def test_order_select_adds_the_draft_orders_and_passes_the_selections():
    ctx = context(draftOrders=drafts_bundle("d1", "d2"), selections=["ServiceRequest/d2"])
    req = apply_request_for_hook("order-select", ctx, [PAIN])
    assert req.data == [PAIN, draft("d1"), draft("d2")]
    assert req.arguments()["parameters"] == {
        "Draft Orders": ["ServiceRequest/d1", "ServiceRequest/d2"],
        "Selections": ["ServiceRequest/d2"],
    }
    assert req.trigger == "order-select"


def test_draft_orders_names_every_entry_whatever_its_status_and_type_once_each():
    """An order re-signed after revision may be active; a record resource never gets named."""
    active = {**draft("d2"), "status": "active"}
    device = {"resourceType": "DeviceRequest", "id": "d3", "status": "draft"}
    entries = [draft("d1"), active, device, draft("d1")]
    bundle = {"resourceType": "Bundle", "entry": [{"resource": r} for r in entries]}
    stale = draft("record-draft")
    req = apply_request_for_hook("order-sign", context(draftOrders=bundle), [stale])
    assert req.parameters == {
        "Draft Orders": ["ServiceRequest/d1", "ServiceRequest/d2", "DeviceRequest/d3"]
    }


def test_an_entry_without_an_id_is_added_to_the_data_but_cannot_be_named():
    """The CQL takes a request without an id as one of the orders (checked, never deleted)."""
    nameless = {"resourceType": "ServiceRequest", "status": "draft", "intent": "order"}
    odd = {"resourceType": "ServiceRequest", "id": 7, "status": "draft"}
    bundle = {"resourceType": "Bundle", "entry": [{"resource": nameless}, {"resource": odd}]}
    req = apply_request_for_hook("order-sign", context(draftOrders=bundle), [])
    assert req.data == [nameless, odd]
    assert req.parameters == {"Draft Orders": []}


def test_an_empty_draft_orders_bundle_still_says_that_nothing_is_being_ordered():
    req = apply_request_for_hook("order-sign", context(draftOrders={"resourceType": "Bundle"}), [])
    assert req.parameters == {"Draft Orders": []}


def test_hook_parameters_is_the_mapping_the_scenario_tests_use_too():
    ctx = context(draftOrders=drafts_bundle("d1"), selections=["ServiceRequest/d1"])
    drafts = draft_orders("order-select", ctx)
    assert hook_parameters("order-select", ctx, drafts) == {
        "Draft Orders": ["ServiceRequest/d1"],
        "Selections": ["ServiceRequest/d1"],
    }
    assert hook_parameters("patient-view", ctx, drafts) == {}
    assert hook_parameters("order-sign", context(), []) == {}


def test_draft_orders_already_taken_out_of_the_context_are_used_as_given():
    ctx = context(draftOrders=drafts_bundle("d1", "d2"), selections=["ServiceRequest/d1"])
    req = apply_request_for_hook("order-select", ctx, [], drafts=[draft("d1")])
    assert req.data == [draft("d1")]
    assert req.parameters["Draft Orders"] == ["ServiceRequest/d1"]


def test_draft_orders_belong_to_the_order_hooks_only():
    ctx = context(draftOrders=drafts_bundle("d1"), selections=["ServiceRequest/d1"])
    assert draft_orders("patient-view", ctx) == []
    req = apply_request_for_hook("patient-view", ctx, [])
    assert req.data == [] and req.arguments()["parameters"] is None


@pytest.mark.parametrize(
    ("user", "practitioner"),
    [
        ("Practitioner/u1", "Practitioner/u1"),
        ("PractitionerRole/r1", "PractitionerRole/r1"),
        ("Patient/p1", None),
        ("RelatedPerson/x", None),
    ],
)
def test_the_user_is_the_practitioner_only_when_a_practitioner(user, practitioner):
    req = apply_request_for_hook("patient-view", context(userId=user), [])
    assert req.practitioner == practitioner


def test_an_unvalidated_context_contributes_only_values_of_the_right_type():
    """The preview passes the context as the browser sent it."""
    ctx = {
        "patientId": "p1",
        "userId": ["Practitioner/u1"],
        "encounterId": 7,
        "draftOrders": "not a bundle",
        "selections": ["ServiceRequest/d1", 3, None],
    }
    req = apply_request_for_hook("order-select", ctx, [PAIN])
    assert (req.encounter, req.practitioner) == (None, None)
    assert req.data == [PAIN] and req.arguments()["parameters"] is None
    ctx["draftOrders"] = drafts_bundle("d1")
    req = apply_request_for_hook("order-select", ctx, [PAIN])
    assert req.arguments()["parameters"] == {
        "Draft Orders": ["ServiceRequest/d1"],
        "Selections": ["ServiceRequest/d1"],
    }


def test_the_fhir_face_fills_the_same_request_without_a_trigger():
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "subject", "valueString": "p1"},
            {"name": "practitioner", "valueString": "Practitioner/u1"},
            {"name": "setting", "valueString": "clinic"},
            {"name": "data", "resource": {"resourceType": "Bundle", "entry": [{"resource": PAIN}]}},
        ],
    }
    req = parse_apply_parameters(body, type_level=False)
    assert isinstance(req, ApplyRequest)
    assert req.arguments() == {
        "subject": "Patient/p1",
        "data": [PAIN],
        "encounter": None,
        "practitioner": "Practitioner/u1",
        "parameters": None,
        "now": None,
        "setting": "clinic",
    }


@pytest.mark.parametrize("hook", ["patient-view", "order-select", "order-sign"])
def test_the_preview_explains_with_the_same_apply_request_as_the_hook_call(
    make_app, fake_apply, hook
):
    body = patient_view(full_prefetch(pain(8)), hook=hook)
    body["context"]["encounterId"] = "e1"
    if hook != "patient-view":
        body["context"]["draftOrders"] = drafts_bundle("d1", "d2")
    if hook == "order-select":
        body["context"]["selections"] = ["ServiceRequest/d2"]
    client = make_app(auth_enabled=False).test_client()
    assert client.post(f"/cds-services/{SERVICE}", json=body).status_code == 200
    explained = client.post("/preview/api/explain", json={"serviceId": SERVICE, "request": body})
    assert explained.status_code == 200
    hook_call, preview_call = fake_apply.calls
    assert without_data(preview_call) == without_data(hook_call)
    assert same_resources(preview_call["data"], hook_call["data"])  # in prefetch-key order
    assert hook_call["trigger"] == hook and hook_call["encounter"] == "Encounter/e1"


def without_data(call: dict) -> dict:
    return {k: v for k, v in call.items() if k != "data"}


def same_resources(a: list[dict], b: list[dict]) -> bool:
    def key(r: dict) -> tuple[str, str]:
        return r["resourceType"], r["id"]

    return sorted(a, key=key) == sorted(b, key=key)
