"""Another patient's data must never drive cards (service/patient_scope.py).

Every resource a hook call would evaluate (prefetch, data fetched from `fhirServer`,
`draftOrders`) must be about `context.patientId`: client-supplied data of another patient → 400,
data the service fetched itself → 412, counted in one log record and a metric, never echoing an
id. Each rule has a positive case and a near miss.
"""

from __future__ import annotations

import json

import pytest

from service.patient_scope import (
    Mismatch,
    belongs_to,
    bundle_aliases,
    counts_by_source,
    describe,
    mismatches,
    patient_id_of,
)
from tests.cdshooks.conftest import SERVICE, full_prefetch, pain, patient, patient_view, searchset
from tests.support.cds_spec import assert_conforms
from tests.support.fhir_server import FhirTestServer

PATH = f"/cds-services/{SERVICE}"


def call(client, auth, body):
    return client.post(PATH, json=body, headers=auth(PATH))


def condition(ref: str | None = "Patient/p1", cid: object = "cond-1") -> dict:
    c = {"resourceType": "Condition", "id": cid, "code": {"text": "anal stenosis"}}
    if ref is not None:
        c["subject"] = {"reference": ref}
    return c


def with_condition(*conditions: dict) -> dict:
    body = patient_view(full_prefetch(pain(8)))
    body["prefetch"]["Condition"] = searchset(*conditions)
    return body


def outcome_text(resp) -> str:
    return json.dumps(resp.get_json())


def assert_rejected(resp, status: int) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    body = resp.get_json()
    assert_conforms(PATH, "POST", status, body)
    assert "cards" not in body
    return body


# -- client-supplied prefetch ------------------------------------------------------------------
def test_a_prefetched_condition_of_another_patient_is_400_and_no_cards_are_computed(
    client, auth, fake_apply
):
    resp = call(client, auth, with_condition(condition("Patient/p2")))
    body = assert_rejected(resp, 400)
    assert body["issue"][0]["code"] == "business-rule"
    assert fake_apply.calls == []  # the logic never saw the data


def test_a_prefetched_condition_of_the_context_patient_is_evaluated(client, auth, fake_apply):
    resp = call(client, auth, with_condition(condition("Patient/p1")))
    assert resp.status_code == 200
    assert resp.get_json()["cards"][0]["indicator"] == "critical"
    assert len(fake_apply.calls) == 1


def nested(*conditions: dict, wrapper: str = "batch-response") -> dict:
    """A key whose searchset sits inside another Bundle (a batch-response, or a collection)."""
    return {
        "resourceType": "Bundle",
        "type": wrapper,
        "entry": [{"resource": searchset(*conditions)}],
    }


@pytest.mark.parametrize("wrapper", ["batch-response", "collection"])
def test_another_patients_condition_inside_a_nested_bundle_is_400(
    client, auth, fake_apply, wrapper
):
    # the logic reads nested Bundles' entries: the check must read them too, or the other
    # patient's abscess would drive this patient's cards
    body = patient_view(full_prefetch(pain(8)))
    body["prefetch"]["Condition"] = nested(condition("Patient/p2"), wrapper=wrapper)
    assert_rejected(call(client, auth, body), 400)
    assert fake_apply.calls == []


def test_the_context_patients_condition_inside_a_nested_bundle_is_evaluated(
    client, auth, fake_apply
):
    body = patient_view(full_prefetch(pain(8)))
    body["prefetch"]["Condition"] = nested(condition("Patient/p1"))
    resp = call(client, auth, body)
    assert resp.status_code == 200
    data = fake_apply.calls[-1]["data"]
    assert any(r.get("resourceType") == "Condition" for r in data)  # read, and flattened
    assert not any(r.get("resourceType") == "Bundle" for r in data)


def test_the_400_names_the_prefetch_key_type_and_count_but_no_id(client, auth):
    body = with_condition(condition("Patient/secret-p2", "c-secret-1"))
    body["prefetch"]["Condition"]["entry"].append({"resource": condition("Group/g9", "c-2")})
    text = outcome_text(call(client, auth, body))
    assert "prefetch key 'Condition': 2 Condition resource(s) not about context.patientId" in text
    for value in ("secret-p2", "c-secret-1", "g9", "c-2", "p1"):
        assert value not in text


def test_an_absolute_url_reference_to_the_context_patient_is_accepted(client, auth):
    ok = with_condition(condition("https://ehr.example/fhir/Patient/p1"))
    assert call(client, auth, ok).status_code == 200


def test_an_absolute_url_reference_to_another_patient_is_400(client, auth):
    other = with_condition(condition("https://ehr.example/fhir/Patient/p2"))
    assert_rejected(call(client, auth, other), 400)


def test_a_versioned_history_reference_to_the_context_patient_is_accepted(client, auth):
    for ref in ("Patient/p1/_history/2", "https://ehr.example/fhir/Patient/p1/_history/7"):
        assert call(client, auth, with_condition(condition(ref))).status_code == 200, ref


def test_a_versioned_history_reference_to_another_patient_is_400(client, auth):
    assert_rejected(call(client, auth, with_condition(condition("Patient/p2/_history/2"))), 400)


@pytest.mark.parametrize("ref", ["Group/p1", "Location/ward-3", "Group/cohort"])
def test_a_subject_that_is_a_group_or_location_is_400_even_with_the_patients_id(client, auth, ref):
    assert_rejected(call(client, auth, with_condition(condition(ref))), 400)


def test_resources_without_a_patient_link_pass(client, auth, fake_apply):
    body = with_condition(condition("Patient/p1"))
    body["prefetch"]["Condition"]["entry"] += [
        {"resource": {"resourceType": "Practitioner", "id": "dr-1"}},
        {"resource": {"resourceType": "Medication", "id": "med-1"}},
        {"resource": condition(None, "cond-without-subject")},
    ]
    assert call(client, auth, body).status_code == 200
    assert len(fake_apply.calls[-1]["data"]) == 6  # patient, 4 "Condition" entries, 1 pain


def test_a_contained_resource_of_another_patient_is_not_inspected(client, auth):
    c = condition("Patient/p1")
    c["contained"] = [condition("Patient/p2", "inner")]
    assert call(client, auth, with_condition(c)).status_code == 200


def test_a_prefetched_patient_other_than_context_patient_is_still_400(client, auth):
    body = patient_view(full_prefetch(pain(8)))
    body["prefetch"]["patient"] = patient() | {"id": "p2"}
    outcome = assert_rejected(call(client, auth, body), 400)
    assert "prefetch key 'patient': 1 Patient resource(s)" in json.dumps(outcome)


# -- context.draftOrders -----------------------------------------------------------------------
def order_sign(subject_ref: str) -> dict:
    body = patient_view(full_prefetch(), hook="order-sign")
    draft = {
        "resourceType": "ServiceRequest",
        "id": "draft-1",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": subject_ref},
    }
    body["context"]["draftOrders"] = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": draft}],
    }
    return body


def test_a_draft_order_for_another_patient_is_400(client, auth, fake_apply):
    body = assert_rejected(call(client, auth, order_sign("Patient/p2")), 400)
    assert "context.draftOrders: 1 ServiceRequest resource(s)" in json.dumps(body)
    assert fake_apply.calls == []


def test_a_draft_order_for_the_context_patient_is_evaluated(client, auth, fake_apply):
    assert call(client, auth, order_sign("Patient/p1")).status_code == 200
    assert any(r["id"] == "draft-1" for r in fake_apply.calls[-1]["data"])


# -- data the service fetched from fhirServer -------------------------------------------------
@pytest.fixture
def fhir():
    other = pain(9, "obs-other") | {"subject": {"reference": "Patient/p2"}}
    with FhirTestServer([patient(), pain(8, "obs-server"), other]) as srv:
        yield srv


@pytest.fixture
def fhir_client(make_app, fhir):
    return make_app(fhir_server_allowlist=(fhir.base_url,)).test_client()


def fetching_observations(fhir) -> dict:
    prefetch = full_prefetch()
    del prefetch["Observation"]
    return patient_view(prefetch, fhirServer=fhir.base_url)


def test_a_fetched_observation_of_another_patient_is_412(fhir_client, auth, fhir, fake_apply):
    fhir.add_fault("Observation", "ignore-patient")  # a server that ignores ?patient=
    resp = call(fhir_client, auth, fetching_observations(fhir))
    body = assert_rejected(resp, 412)
    assert body["issue"][0]["code"] == "incomplete"
    text = json.dumps(body)
    assert "prefetch key 'Observation' (fetched from fhirServer): 1 Observation" in text
    assert "obs-other" not in text and "p2" not in text
    assert fake_apply.calls == []


def test_fetched_observations_of_the_context_patient_are_evaluated(fhir_client, auth, fhir):
    resp = call(fhir_client, auth, fetching_observations(fhir))
    assert resp.status_code == 200
    assert resp.get_json()["cards"][0]["indicator"] == "critical"


def paged_prefetch(fhir, first_page_subject: str) -> dict:
    body = patient_view(full_prefetch(), fhirServer=fhir.base_url)
    body["prefetch"]["Observation"] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {"resource": pain(1, "o-page1") | {"subject": {"reference": first_page_subject}}}
        ],
        "link": [{"relation": "next", "url": fhir.base_url + "/Observation?patient=p1&_page=0"}],
    }
    return body


def test_a_foreign_resource_on_a_page_the_service_followed_is_412(fhir_client, auth, fhir):
    fhir.add_fault("Observation", "ignore-patient")
    assert_rejected(call(fhir_client, auth, paged_prefetch(fhir, "Patient/p1")), 412)


def test_a_foreign_resource_on_the_clients_own_first_page_is_400(fhir_client, auth, fhir):
    assert_rejected(call(fhir_client, auth, paged_prefetch(fhir, "Patient/p2")), 400)
    assert call(fhir_client, auth, paged_prefetch(fhir, "Patient/p1")).status_code == 200


def test_client_data_of_another_patient_is_400_even_when_fetched_data_is_foreign_too(
    fhir_client, auth, fhir
):
    fhir.add_fault("Observation", "ignore-patient")
    body = fetching_observations(fhir)
    body["prefetch"]["Condition"] = searchset(condition("Patient/p2"))
    assert_rejected(call(fhir_client, auth, body), 400)


# -- counted in the log and the metrics ------------------------------------------------------
def rejection_events(capsys) -> list[dict]:
    lines = capsys.readouterr().err.splitlines()
    events = [json.loads(line) for line in lines if line.startswith("{")]
    return [e for e in events if e["event"] == "data of another patient rejected"]


def test_one_log_record_counts_rejections_by_source_and_type_without_ids(client, auth, capsys):
    body = with_condition(condition("Patient/secret-p2", "c-secret"), condition("Group/g-9"))
    body["prefetch"]["Observation"]["entry"][0]["resource"]["subject"] = {
        "reference": "Patient/secret-p2"
    }
    capsys.readouterr()
    call(client, auth, body)
    (event,) = rejection_events(capsys)
    assert event["level"] == "WARNING"
    assert event["service"] == SERVICE
    assert event["rejected"] == {"prefetch": {"Condition": 2, "Observation": 1}}
    assert event["total"] == 3
    text = json.dumps(event)
    for value in ("secret-p2", "c-secret", "g-9", "obs-1", "p1"):
        assert value not in text


def test_no_rejection_record_is_logged_for_the_context_patients_data(client, auth, capsys):
    capsys.readouterr()
    assert call(client, auth, with_condition(condition("Patient/p1"))).status_code == 200
    assert rejection_events(capsys) == []


def test_fetched_rejections_are_logged_as_fetched(fhir_client, auth, fhir, capsys):
    fhir.add_fault("Observation", "ignore-patient")
    capsys.readouterr()
    call(fhir_client, auth, fetching_observations(fhir))
    (event,) = rejection_events(capsys)
    assert event["rejected"] == {"fetched": {"Observation": 1}}


def test_rejections_are_counted_in_the_metrics_by_service_and_source(client, auth):
    metric = f'cds_patient_scope_rejections_total{{service="{SERVICE}",source="draftOrders"'
    assert metric not in client.get("/metrics").get_data(as_text=True)
    call(client, auth, order_sign("Patient/p2"))
    call(client, auth, with_condition(condition("Patient/p2"), condition("Patient/p3", "c3")))
    text = client.get("/metrics").get_data(as_text=True)
    counts = {
        line.split("{")[1].split("}")[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("cds_patient_scope_rejections_total{")
    }
    assert counts == {
        f'service="{SERVICE}",source="draftOrders"': 1.0,
        f'service="{SERVICE}",source="prefetch"': 2.0,
    }


def test_a_rejected_call_is_audited_with_its_status(client, auth):
    call(client, auth, with_condition(condition("Patient/p2")))
    (latest,) = client.application.extensions["cds_store"].audit(limit=1)
    assert latest["status"] == 400 and latest["cards"] == 0


# -- the preview's evidence view shares the rule -----------------------------------------------
def explain(client, request: dict):
    return client.post("/preview/api/explain", json={"serviceId": SERVICE, "request": request})


def test_the_preview_evidence_view_rejects_another_patients_data_with_400(make_app, fake_apply):
    client = make_app(auth_enabled=False).test_client()
    resp = explain(client, with_condition(condition("Patient/p2")))
    assert resp.status_code == 400
    assert "prefetch key 'Condition': 1 Condition" in resp.get_data(as_text=True)
    assert fake_apply.calls == []
    assert explain(client, with_condition(condition("Patient/p1"))).status_code == 200


def test_the_preview_never_echoes_a_prefetch_key_the_service_does_not_declare(make_app):
    client = make_app(auth_enabled=False).test_client()
    body = with_condition(condition("Patient/p1"))
    body["prefetch"]["client-key-xyz"] = condition("Patient/p2", "cond-2")
    resp = explain(client, body)
    assert resp.status_code == 400
    assert "client-key-xyz" not in resp.get_data(as_text=True)
    assert "prefetch: 1 Condition" in resp.get_data(as_text=True)


def test_the_preview_rejects_a_draft_order_for_another_patient(make_app):
    client = make_app(auth_enabled=False).test_client()
    assert explain(client, order_sign("Patient/p2")).status_code == 400
    assert explain(client, order_sign("Patient/p1")).status_code == 200


def test_the_preview_takes_malformed_ids_without_a_500(make_app):
    client = make_app(auth_enabled=False).test_client()
    body = with_condition(condition("Patient/p1", ["not", "a", "string"]))
    assert explain(client, body).status_code == 200
    body = with_condition(condition("Patient/p2", ["not", "a", "string"]))
    assert explain(client, body).status_code == 400


# -- the pure function ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("Patient/123", "123"),
        ("https://host/fhir/Patient/123", "123"),
        ("http://host:8080/Patient/123", "123"),
        ("Patient/123/_history/2", "123"),
        ("https://host/fhir/Patient/123/_history/2", "123"),
        (" Patient/123 ", "123"),
        ("Group/123", None),
        ("Location/123", None),
        ("https://host/fhir/Group/123", None),
        ("#123", None),
        ("123", None),
        ("Patient/", None),
        ("Patient/123/", None),
        ("Patient/123/_history", None),
        ("Patient?identifier=x|123", None),
        ("urn:uuid:9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d", None),
        ("RelatedPatient/123", None),
        (None, None),
        (123, None),
    ],
)
def test_patient_id_of_reads_relative_absolute_and_versioned_references(reference, expected):
    assert patient_id_of(reference) == expected


def test_a_patient_belongs_only_when_its_id_is_the_patient_id():
    assert belongs_to({"resourceType": "Patient", "id": "p1"}, "p1")
    assert not belongs_to({"resourceType": "Patient", "id": "p2"}, "p1")
    assert not belongs_to({"resourceType": "Patient"}, "p1")


@pytest.mark.parametrize("element", ["subject", "patient"])
def test_subject_and_patient_must_reference_the_patient(element):
    assert belongs_to({"resourceType": "X", element: {"reference": "Patient/p1"}}, "p1")
    assert not belongs_to({"resourceType": "X", element: {"reference": "Patient/p2"}}, "p1")


@pytest.mark.parametrize(
    ("rtype", "element"),
    [("Task", "for"), ("Coverage", "beneficiary"), ("ResearchSubject", "individual")],
)
def test_type_specific_patient_links_are_checked_only_on_their_type(rtype, element):
    foreign = {element: {"reference": "Patient/p2"}}
    assert not belongs_to({"resourceType": rtype, **foreign}, "p1")
    assert belongs_to({"resourceType": rtype, element: {"reference": "Patient/p1"}}, "p1")
    assert belongs_to({"resourceType": "Observation", **foreign}, "p1")  # not a patient link


@pytest.mark.parametrize(
    "value",
    [
        {"display": "Ada Lovelace"},
        {"identifier": {"system": "urn:mrn", "value": "p1"}},
        {"reference": 1},
        "Patient/p1",
        [{"reference": "Patient/p1"}, {"reference": "Device/d1"}],
    ],
)
def test_a_patient_link_that_cannot_be_verified_is_a_mismatch(value):
    assert not belongs_to({"resourceType": "Observation", "subject": value}, "p1")


def test_absent_null_and_empty_links_pass():
    assert belongs_to({"resourceType": "Practitioner", "id": "dr"}, "p1")
    assert belongs_to({"resourceType": "Observation", "subject": None}, "p1")
    assert belongs_to({"resourceType": "Account", "subject": []}, "p1")
    assert belongs_to({"resourceType": "Account", "subject": [{"reference": "Patient/p1"}]}, "p1")


def test_every_patient_link_of_a_resource_is_checked():
    both = {"subject": {"reference": "Patient/p1"}, "patient": {"reference": "Patient/p2"}}
    assert not belongs_to({"resourceType": "X", **both}, "p1")


def test_bundle_full_urls_resolve_urn_uuid_references_to_the_patient():
    bundle = {
        "resourceType": "Bundle",
        "entry": [
            {"fullUrl": "urn:uuid:aaa", "resource": {"resourceType": "Patient", "id": "p1"}},
            {"fullUrl": "urn:uuid:bbb", "resource": {"resourceType": "Patient", "id": "p2"}},
            {"fullUrl": "urn:uuid:ccc", "resource": {"resourceType": "Group", "id": "p1"}},
        ],
    }
    aliases = bundle_aliases(bundle)
    assert aliases == {"urn:uuid:aaa": "Patient/p1", "urn:uuid:bbb": "Patient/p2",
                       "urn:uuid:ccc": "Group/p1"}  # fmt: skip

    def obs(ref: str) -> dict:
        return {"resourceType": "Observation", "subject": {"reference": ref}}

    assert belongs_to(obs("urn:uuid:aaa"), "p1", aliases)
    assert not belongs_to(obs("urn:uuid:bbb"), "p1", aliases)
    assert not belongs_to(obs("urn:uuid:ccc"), "p1", aliases)
    assert not belongs_to(obs("urn:uuid:aaa"), "p1")  # no Bundle, no resolution
    assert bundle_aliases(None) == {} and bundle_aliases({"entry": [{"fullUrl": 1}]}) == {}


def test_mismatches_are_counted_by_source_and_sanitised_type():
    resources = [
        {"resourceType": "Condition", "subject": {"reference": "Patient/p2"}},
        {"resourceType": "Condition", "subject": {"reference": "Patient/p1"}},
        {"resourceType": "Condition", "subject": {"reference": "Group/g"}},
        {"resourceType": "<script>", "subject": {"reference": "Patient/p2"}},
    ]
    found = mismatches(resources, "p1", source="prefetch", where="prefetch key 'Condition'")
    assert found == [
        Mismatch("prefetch", "prefetch key 'Condition'", "Condition"),
        Mismatch("prefetch", "prefetch key 'Condition'", "Condition"),
        Mismatch("prefetch", "prefetch key 'Condition'", "(unknown type)"),
    ]
    found.append(Mismatch("fetched", "prefetch key 'Observation'", "Observation"))
    assert counts_by_source(found) == {
        "fetched": {"Observation": 1},
        "prefetch": {"(unknown type)": 1, "Condition": 2},
    }
    assert describe(found[:2]) == [
        "prefetch key 'Condition': 2 Condition resource(s) not about context.patientId"
    ]
    assert mismatches(resources[1:2], "p1", source="prefetch", where="x") == []
