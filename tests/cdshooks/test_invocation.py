"""Invocation: request validation, dispatch on hook, cards from the RequestGroup, error contract."""

from __future__ import annotations

import json
import uuid

from tests.cdshooks.conftest import PUBLIC_BASE, SERVICE, full_prefetch, pain, patient_view
from tests.support.cds_spec import assert_conforms

PATH = f"/cds-services/{SERVICE}"


def call(client, auth, body, path=PATH, **kw):
    return client.post(path, json=body, headers=auth(path), **kw)


def test_severe_pain_in_the_prefetch_yields_one_critical_card_that_conforms(client, auth):
    resp = call(client, auth, patient_view(full_prefetch(pain(8))))
    assert resp.status_code == 200
    body = resp.get_json()
    assert_conforms(PATH, "POST", 200, body)
    (card,) = body["cards"]
    assert card["indicator"] == "critical"
    assert card["summary"] == "Severe pain during home dilation: stop and review"
    assert card["source"]["label"] == "Anal dilation guideline (fixture)"
    assert card["source"]["url"] == "https://dilation-cds.org/guideline"


def test_a_patient_without_findings_gets_200_and_no_cards(client, auth):
    resp = call(client, auth, patient_view(full_prefetch(pain(3))))
    assert resp.status_code == 200
    assert resp.get_json() == {"cards": []}


def test_card_detail_shows_recommendation_evidence_strength_and_citations(client, auth):
    card = call(client, auth, patient_view(full_prefetch(pain(9, "obs-9")))).get_json()["cards"][0]
    detail = card["detail"]
    assert detail.startswith("Stop home dilation and arrange a professional review")
    assert "- Pain score 9 during dilation" in detail
    assert "**Strength of recommendation:** Strong; quality of evidence: moderate" in detail
    assert "1. Eberspacher C et al. Front Surg 2021;8:711958. (https://pubmed" in detail


def test_suggestions_are_attached_with_their_proposed_resources(client, auth):
    card = call(client, auth, patient_view(full_prefetch(pain(8)))).get_json()["cards"][0]
    # PlanDefinition "exactly-one" is not a CDS Hooks value: it becomes at-most-one
    assert card["selectionBehavior"] == "at-most-one"
    refer, pause = card["suggestions"]
    assert refer["label"] == "Refer to colorectal surgery"
    assert refer["isRecommended"] is True
    assert "isRecommended" not in pause  # only one recommended suggestion under at-most-one
    (action,) = refer["actions"]
    assert action["type"] == "create"
    assert action["description"] == "Referral for professional assessment of dilation pain"
    assert action["resource"]["resourceType"] == "ServiceRequest"
    assert "note" not in action["resource"]  # nulls from $apply are never forwarded
    assert pause["actions"][0]["resource"]["resourceType"] == "Task"


def test_override_reasons_come_from_the_content_and_always_have_a_display(client, auth):
    card = call(client, auth, patient_view(full_prefetch(pain(8)))).get_json()["cards"][0]
    assert card["overrideReasons"] == [
        {
            "system": "https://dilation-cds.org/fhir/CodeSystem/anal-dilation-local",
            "code": "pain-resolved",
            "display": "Pain resolved",
        }
    ]


def test_links_point_to_the_guideline_and_the_citations(client, auth):
    card = call(client, auth, patient_view(full_prefetch(pain(8)))).get_json()["cards"][0]
    assert [(link["url"], link["type"]) for link in card["links"]] == [
        ("https://dilation-cds.org/guideline", "absolute"),
        ("https://pubmed.ncbi.nlm.nih.gov/34527696/", "absolute"),
    ]


def test_a_smart_link_is_added_when_a_smart_app_is_configured(make_app, auth):
    client = make_app(smart_app_url="https://apps.example/dilation/launch").test_client()
    card = call(client, auth, patient_view(full_prefetch(pain(8)))).get_json()["cards"][0]
    smart = card["links"][-1]
    assert smart["type"] == "smart" and smart["url"] == "https://apps.example/dilation/launch"
    assert json.loads(smart["appContext"]) == {
        "recommendation": "escalate-severe-pain",
        "service": SERVICE,
    }


def test_card_and_suggestion_uuids_are_stable_per_patient_and_differ_across_patients(client, auth):
    first = call(client, auth, patient_view(full_prefetch(pain(8)))).get_json()["cards"][0]
    again = call(client, auth, patient_view(full_prefetch(pain(8)))).get_json()["cards"][0]
    other_body = patient_view(full_prefetch(pain(8)))
    other_body["context"]["patientId"] = "p2"
    other_body["prefetch"]["patient"]["id"] = "p2"
    other_body["prefetch"]["Observation"]["entry"][0]["resource"]["subject"] = {
        "reference": "Patient/p2"
    }
    other = call(client, auth, other_body).get_json()["cards"][0]
    assert first["uuid"] == again["uuid"]
    assert [s["uuid"] for s in first["suggestions"]] == [s["uuid"] for s in again["suggestions"]]
    assert other["uuid"] != first["uuid"]


def test_null_prefetch_values_mean_no_data_and_need_no_fhir_server(client, auth, fake_apply):
    prefetch = {
        "patient": None,
        "Condition": None,
        "Observation": None,
    }
    resp = call(client, auth, patient_view(prefetch))
    assert resp.status_code == 200
    assert fake_apply.calls[-1]["data"] == []


def test_without_prefetch_or_fhir_server_the_service_answers_412(client, auth):
    resp = call(client, auth, patient_view())
    assert resp.status_code == 412
    body = resp.get_json()
    assert_conforms(PATH, "POST", 412, body)
    text = json.dumps(body)
    assert "Observation" in text and "patient" in text


def test_partial_prefetch_without_fhir_server_is_412_not_a_silent_guess(client, auth):
    prefetch = full_prefetch(pain(8))
    del prefetch["Condition"]
    assert call(client, auth, patient_view(prefetch)).status_code == 412


def test_a_null_fhir_authorization_is_treated_as_absent(client, auth):
    resp = call(client, auth, patient_view(full_prefetch(pain(8)), fhirAuthorization=None))
    assert resp.status_code == 200


def test_apply_receives_subject_practitioner_encounter_and_trigger(client, auth, fake_apply):
    body = patient_view(full_prefetch())
    body["context"]["encounterId"] = "enc-1"
    call(client, auth, body)
    c = fake_apply.calls[-1]
    assert (c["subject"], c["practitioner"], c["encounter"], c["trigger"]) == (
        "Patient/p1",
        "Practitioner/example",
        "Encounter/enc-1",
        "patient-view",
    )
    assert c["parameters"] is None


def draft(rid: str) -> dict:
    return {"resourceType": "ServiceRequest", "id": rid, "status": "draft", "intent": "order"}


def order_body(hook: str, selections=None) -> dict:
    body = patient_view(full_prefetch(), hook=hook)
    body["context"]["draftOrders"] = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": draft("d1")}, {"resource": draft("d2")}],
    }
    if selections is not None:
        body["context"]["selections"] = selections
    return body


def test_order_select_merges_draft_orders_and_passes_selections(client, auth, fake_apply):
    resp = call(client, auth, order_body("order-select", ["ServiceRequest/d2"]))
    assert resp.status_code == 200
    c = fake_apply.calls[-1]
    assert c["trigger"] == "order-select"
    assert c["parameters"] == {
        "Draft Orders": ["ServiceRequest/d1", "ServiceRequest/d2"],
        "Selections": ["ServiceRequest/d2"],
    }
    assert {r["id"] for r in c["data"] if r["resourceType"] == "ServiceRequest"} == {"d1", "d2"}


def test_order_sign_merges_draft_orders_without_selections(client, auth, fake_apply):
    assert call(client, auth, order_body("order-sign")).status_code == 200
    c = fake_apply.calls[-1]
    assert c["parameters"] == {"Draft Orders": ["ServiceRequest/d1", "ServiceRequest/d2"]}
    assert sum(r["resourceType"] == "ServiceRequest" for r in c["data"]) == 2


def test_any_selection_behavior_is_kept(client, auth):
    body = order_body("order-select", ["ServiceRequest/d1"])
    body["prefetch"]["Condition"] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": {"resourceType": "Condition", "id": "c1"}}],
    }
    body_out = call(client, auth, body).get_json()
    assert_conforms(PATH, "POST", 200, body_out)
    (card,) = body_out["cards"]
    assert card["indicator"] == "info" and card["selectionBehavior"] == "any"


def assert_400(resp, *fragments: str) -> None:
    assert resp.status_code == 400
    body = resp.get_json()
    assert_conforms(PATH, "POST", 400, body)
    text = json.dumps(body)
    for f in fragments:
        assert f in text, f"{f!r} not in {text}"


def test_malformed_json_is_400_with_an_operation_outcome(client, auth):
    resp = client.post(
        PATH, data=b"{not json", headers={**auth(PATH), "Content-Type": "application/json"}
    )
    assert_400(resp, "not valid JSON")


def test_a_json_array_body_is_400(client, auth):
    assert_400(call(client, auth, []), "JSON object")


def test_missing_hook_instance_and_context_fields_are_named(client, auth):
    body = patient_view(full_prefetch())
    del body["hookInstance"]
    del body["context"]["patientId"]
    assert_400(call(client, auth, body), "hookInstance")
    body["hookInstance"] = str(uuid.uuid4())
    assert_400(call(client, auth, body), "context.patientId")


def test_user_id_must_be_a_typed_reference(client, auth):
    body = patient_view(full_prefetch())
    body["context"]["userId"] = "example"
    assert_400(call(client, auth, body), "context.userId")


def test_an_unsupported_hook_is_400_naming_the_supported_ones(client, auth):
    resp = call(client, auth, patient_view(full_prefetch(), hook="encounter-start"))
    assert_400(resp, "the hook is not supported", "patient-view, order-select, order-sign")
    assert "encounter-start" not in resp.get_data(as_text=True)  # the request's value: not echoed


def test_order_select_requires_selections_that_name_draft_orders(client, auth):
    assert_400(call(client, auth, order_body("order-select")), "context.selections")
    assert_400(
        call(client, auth, order_body("order-select", ["ServiceRequest/nope"])), "draft order"
    )


def test_order_hooks_require_a_draft_orders_bundle(client, auth):
    body = order_body("order-sign")
    body["context"]["draftOrders"] = {"resourceType": "List"}
    assert_400(call(client, auth, body), "context.draftOrders")


def test_fhir_authorization_requires_fhir_server(client, auth):
    body = patient_view(
        full_prefetch(),
        fhirAuthorization={
            "access_token": "t",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "cds-service",
        },
    )
    assert_400(call(client, auth, body), "fhirServer")


def test_an_unknown_service_is_404(client, auth):
    resp = call(client, auth, patient_view(full_prefetch()), path="/cds-services/nope")
    assert resp.status_code == 404
    assert_conforms("/cds-services/nope", "POST", 404, resp.get_json())


def test_a_body_over_the_size_limit_is_413(make_app, auth):
    client = make_app(max_request_bytes=2000).test_client()
    body = patient_view(full_prefetch(*(pain(1, f"o{i}") for i in range(50))))
    resp = call(client, auth, body)
    assert resp.status_code == 413
    assert_conforms(PATH, "POST", 413, resp.get_json())


def test_an_internal_error_is_500_without_a_trace(make_app, auth, fake_apply, monkeypatch):
    def boom(*a, **kw):
        raise RuntimeError("secret detail Patient/p1")

    client = make_app().test_client()
    client.application.extensions["cds"].apply_fn = boom
    resp = call(client, auth, patient_view(full_prefetch()))
    assert resp.status_code == 500
    body = resp.get_json()
    assert_conforms(PATH, "POST", 500, body)
    assert "secret" not in json.dumps(body) and "Traceback" not in json.dumps(body)


def test_system_actions_come_from_actions_marked_as_system_actions(make_app, auth, fake_apply):
    from tests.cdshooks.fixtures import SD, ApplyResult

    def apply(kb, pd, **kw):
        rg = {
            "resourceType": "RequestGroup",
            "action": [
                {
                    "id": "flag",
                    "title": "Record that home dilation is paused",
                    "extension": [{"url": f"{SD}/system-action", "valueBoolean": True}],
                    "resource": {"reference": "Flag/f1"},
                }
            ],
        }
        return ApplyResult(rg, [{"resourceType": "Flag", "id": "f1", "status": "active"}])

    client = make_app().test_client()
    client.application.extensions["cds"].apply_fn = apply
    body = call(client, auth, patient_view(full_prefetch())).get_json()
    assert_conforms(PATH, "POST", 200, body)
    assert body["cards"] == []
    assert body["systemActions"] == [
        {
            "type": "create",
            "description": "Record that home dilation is paused",
            "resource": {"resourceType": "Flag", "id": "f1", "status": "active"},
        }
    ]


def test_every_invocation_leaves_an_audit_record_with_ids_only(client, auth):
    body = patient_view(full_prefetch(pain(8)))
    call(client, auth, body)
    call(client, auth, patient_view())  # 412
    store = client.application.extensions["cds_store"]
    latest, previous = store.audit(limit=2)
    assert latest["status"] == 412 and latest["cards"] == 0
    assert previous["status"] == 200 and previous["indicators"] == ["critical"]
    assert previous["hook_instance"] == body["hookInstance"]
    assert previous["patient_id"] == "p1"
    assert set(previous) == {
        "hook_instance",
        "at",
        "service_id",
        "hook",
        "patient_id",
        "user_id",
        "issuer",
        "status",
        "cards",
        "indicators",
        "card_uuids",
        "duration_ms",
    }


def test_a_prefetched_patient_other_than_the_context_patient_is_400(client, auth):
    body = patient_view(full_prefetch(pain(8)))
    body["prefetch"]["patient"] = {"resourceType": "Patient", "id": "someone-else"}
    assert_400(call(client, auth, body), "context.patientId")


def test_context_and_prefetch_must_be_json_objects(client, auth):
    body = patient_view(full_prefetch())
    body["prefetch"] = ["not", "an", "object"]
    assert_400(call(client, auth, body), "prefetch")
    body = patient_view(full_prefetch())
    body["context"] = "patient p1"
    assert_400(call(client, auth, body), "context")


def test_large_bodies_are_read_whole_and_oversized_chunked_bodies_refused_over_http(make_app, ehr):
    import requests

    from tests.support.live import LiveServer

    app = make_app(max_request_bytes=400_000)
    observations = [pain(1, f"o{i}") for i in range(1500)] + [pain(8, "severe")]
    body = json.dumps(patient_view(full_prefetch(*observations))).encode()
    assert 200_000 < len(body) < 400_000
    with LiveServer(app) as live:
        url = live.url + PATH

        def post(data):
            headers = {
                "Content-Type": "application/json",
                "Authorization": f"Bearer {ehr.token(PUBLIC_BASE + PATH)}",
            }
            return requests.post(url, data=data, headers=headers, timeout=30)

        whole = post(body)
        assert whole.status_code == 200 and whole.json()["cards"][0]["indicator"] == "critical"
        chunked = post(iter([body, body]))  # no Content-Length, over the limit
        assert chunked.status_code == 413
        assert chunked.json()["resourceType"] == "OperationOutcome"


def test_resources_with_malformed_ids_do_not_break_the_call(client, auth):
    odd = {"resourceType": "Observation", "id": ["not", "a", "string"], "valueInteger": 9}
    resp = call(client, auth, patient_view(full_prefetch(odd, pain(2))))
    assert resp.status_code == 200
    assert resp.get_json()["cards"][0]["indicator"] == "critical"
