"""Service ids: one discovery id per hook, and the PlanDefinition's id still answered.

A client such as the CDS Hooks Sandbox keys services by URL: when one PlanDefinition answered
several hooks under one id, only one of them was ever called. A PlanDefinition with several hooks
is therefore listed once per hook as `<PlanDefinition id>-<hook>`; one with a single hook keeps
its own id. The PlanDefinition's id is still answered (dispatching on the body's hook) but no
longer listed. Card uuids, stored feedback and audit records stay keyed by the PlanDefinition's
id, so nothing recorded changes with the id a client calls.
"""

from __future__ import annotations

import copy
import uuid

import pytest

from service.app import create_app
from service.cdshooks.cards import stable_uuid
from service.knowledge.loader import KnowledgeError
from tests.cdshooks.conftest import SERVICE, full_prefetch, pain, patient, patient_view, searchset
from tests.cdshooks.fixtures import BASE, PLAN, FixtureKnowledgeBase
from tests.support.cds_spec import assert_conforms

PER_HOOK = {
    "patient-view": f"{SERVICE}-patient-view",
    "order-select": f"{SERVICE}-order-select",
    "order-sign": f"{SERVICE}-order-sign",
}
NOW = "2026-11-25T10:00:00Z"


def discovery(client, auth) -> list[dict]:
    resp = client.get("/cds-services", headers=auth("/cds-services"))
    assert resp.status_code == 200
    assert_conforms("/cds-services", "GET", 200, resp.get_json())
    return resp.get_json()["services"]


def post(client, auth, service_id: str, body: dict):
    path = f"/cds-services/{service_id}"
    return client.post(path, json=body, headers=auth(path))


def condition() -> dict:
    return {
        "resourceType": "Condition",
        "id": "cond-1",
        "subject": {"reference": "Patient/p1"},
        "code": {"text": "anal stenosis"},
    }


def draft_dilator() -> dict:
    return {
        "resourceType": "DeviceRequest",
        "id": "draft-1",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
    }


def order_call(hook: str) -> dict:
    context = {
        "userId": "Practitioner/example",
        "patientId": "p1",
        "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": draft_dilator()}]},
    }
    if hook == "order-select":
        context["selections"] = ["DeviceRequest/draft-1"]
    return {
        "hook": hook,
        "hookInstance": str(uuid.uuid4()),
        "context": context,
        "prefetch": {
            "patient": patient(),
            "Condition": searchset(condition()),
            "Observation": searchset(pain(9)),
        },
    }


def call_for(hook: str) -> dict:
    return patient_view(full_prefetch(pain(9))) if hook == "patient-view" else order_call(hook)


def test_a_plan_definition_with_several_hooks_is_listed_once_per_hook_under_unique_ids(
    client, auth
):
    services = discovery(client, auth)
    assert {s["hook"]: s["id"] for s in services} == PER_HOOK
    assert SERVICE not in {s["id"] for s in services}


def test_every_hook_of_a_plan_definition_lists_the_same_prefetch_parameters_and_plan_definition(
    client, auth
):
    services = discovery(client, auth)
    first = services[0]
    for s in services[1:]:
        assert s["prefetch"] == first["prefetch"]
        assert s["extension"] == first["extension"]
        assert (s["title"], s["description"]) == (first["title"], first["description"])
    assert first["extension"]["dilation-cds-plandefinition"]["url"] == PLAN["url"]


def test_a_plan_definition_with_one_hook_keeps_its_own_id(settings, fake_apply, auth):
    plan = copy.deepcopy(PLAN)
    for action in plan["action"]:
        action["trigger"] = [{"type": "named-event", "name": "patient-view"}]
    app = create_app(settings, knowledge=FixtureKnowledgeBase([plan]), apply=fake_apply)
    client = app.test_client()
    assert [(s["id"], s["hook"]) for s in discovery(client, auth)] == [(SERVICE, "patient-view")]
    assert post(client, auth, SERVICE, call_for("patient-view")).status_code == 200
    assert (
        post(client, auth, f"{SERVICE}-patient-view", call_for("patient-view")).status_code == 404
    )


@pytest.mark.parametrize("hook", sorted(PER_HOOK))
def test_each_per_hook_id_answers_its_hook(client, auth, hook):
    resp = post(client, auth, PER_HOOK[hook], call_for(hook))
    assert resp.status_code == 200
    assert_conforms(f"/cds-services/{PER_HOOK[hook]}", "POST", 200, resp.get_json())
    assert resp.get_json()["cards"]


@pytest.mark.parametrize(
    ("service_hook", "sent_hook"),
    [("order-sign", "order-select"), ("order-select", "patient-view")],
)
def test_a_per_hook_id_refuses_another_hook_of_the_same_plan_definition(
    client, auth, service_hook, sent_hook
):
    resp = post(client, auth, PER_HOOK[service_hook], call_for(sent_hook))
    assert resp.status_code == 400
    assert_conforms(f"/cds-services/{PER_HOOK[service_hook]}", "POST", 400, resp.get_json())
    (issue,) = resp.get_json()["issue"]
    assert issue["code"] == "not-supported"
    assert f"(its hooks: {service_hook})" in issue["diagnostics"]


@pytest.mark.parametrize("hook", sorted(PER_HOOK))
def test_the_plan_definition_id_still_answers_every_hook_with_the_same_cards(
    client, auth, fake_apply, hook
):
    body = call_for(hook)
    old = post(client, auth, SERVICE, body)
    new = post(client, auth, PER_HOOK[hook], {**body, "hookInstance": str(uuid.uuid4())})
    assert old.status_code == new.status_code == 200
    assert old.get_json() == new.get_json()
    assert [c["trigger"] for c in fake_apply.calls] == [hook, hook]  # dispatched on the body


def test_card_uuids_derive_from_the_plan_definition_whichever_id_is_called(client, auth):
    expected = stable_uuid("card", SERVICE, "escalate-severe-pain", "p1")
    for service_id in (SERVICE, PER_HOOK["order-sign"]):
        (card,) = post(client, auth, service_id, call_for("order-sign")).get_json()["cards"]
        assert card["uuid"] == expected
        assert card["suggestions"][0]["uuid"] == stable_uuid(
            "suggestion", SERVICE, "escalate-severe-pain", "refer-colorectal", "p1"
        )


def test_calls_to_either_id_are_audited_under_the_plan_definition(client, auth):
    post(client, auth, PER_HOOK["order-select"], call_for("order-select"))
    post(client, auth, SERVICE, call_for("order-select"))
    store = client.application.extensions["cds_store"]
    assert [(r["service_id"], r["hook"]) for r in store.audit(limit=2)] == [
        (SERVICE, "order-select"),
        (SERVICE, "order-select"),
    ]


@pytest.mark.parametrize(
    ("service_id", "hook"), [*((v, k) for k, v in PER_HOOK.items()), (SERVICE, "order-sign")]
)
def test_feedback_is_accepted_on_every_id_of_the_service(client, auth, service_id, hook):
    card = post(client, auth, service_id, call_for(hook)).get_json()["cards"][0]
    path = f"/cds-services/{service_id}/feedback"
    item = {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": NOW}
    resp = client.post(path, json={"feedback": [item]}, headers=auth(path))
    assert resp.status_code == 200
    assert_conforms(path, "POST", 200, resp.get_json())
    (row,) = client.application.extensions["cds_store"].feedback(SERVICE)
    assert row["card_uuid"] == card["uuid"]


def test_the_same_feedback_sent_to_the_old_and_the_new_id_is_stored_once(client, auth):
    (card,) = post(client, auth, PER_HOOK["order-sign"], call_for("order-sign")).get_json()["cards"]
    item = {
        "card": card["uuid"],
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}],
        "outcomeTimestamp": NOW,
    }
    for service_id in (PER_HOOK["order-sign"], SERVICE):
        path = f"/cds-services/{service_id}/feedback"
        assert client.post(path, json={"feedback": [item]}, headers=auth(path)).status_code == 200
    (row,) = client.application.extensions["cds_store"].feedback()
    assert (row["service_id"], row["card_uuid"]) == (SERVICE, card["uuid"])


@pytest.mark.parametrize(
    "service_id", [f"{SERVICE}-encounter-start", f"{SERVICE}-order-select-order-sign", "order-sign"]
)
def test_ids_that_name_no_service_hook_are_404_for_calls_and_feedback(client, auth, service_id):
    assert post(client, auth, service_id, call_for("order-sign")).status_code == 404
    path = f"/cds-services/{service_id}/feedback"
    item = {"card": str(uuid.uuid4()), "outcome": "overridden", "outcomeTimestamp": NOW}
    assert client.post(path, json={"feedback": [item]}, headers=auth(path)).status_code == 404


def test_a_per_hook_id_equal_to_another_plan_definitions_id_stops_start_up(settings, fake_apply):
    other = copy.deepcopy(PLAN)
    other["id"] = f"{SERVICE}-order-sign"
    other["url"] = f"{BASE}/PlanDefinition/{other['id']}"
    other["action"] = [
        {**other["action"][0], "trigger": [{"type": "named-event", "name": "order-sign"}]}
    ]
    kb = FixtureKnowledgeBase([PLAN, other])
    with pytest.raises(KnowledgeError, match=f"PlanDefinition/{SERVICE}: its order-sign service"):
        create_app(settings, knowledge=kb, apply=fake_apply)
