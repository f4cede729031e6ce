"""$apply evaluates the data Bundle as the subject's record: a resource about another patient
is a 400 OperationOutcome (service/patient_scope.py), the same rule as a CDS Hooks call."""

from __future__ import annotations

import json

import pytest
from flask import Flask

from service.app import create_app
from service.config import Settings
from service.fhirapi import register
from tests.apply.fixture_kb import pain, patient, severe_pain_patient, stenosis

FHIR_JSON = "application/fhir+json"
PLAN_APPLY = "/fhir/PlanDefinition/demo-dilation/$apply"
ACTIVITY_APPLY = "/fhir/ActivityDefinition/demo-home-program/$apply"


@pytest.fixture(scope="module")
def client(kb):
    app = Flask("fhirapi-patient-scope-test")
    register(app, kb)
    return app.test_client()


def apply(client, bundle: dict, subject: str = "Patient/pro", path: str = PLAN_APPLY):
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "subject", "valueString": subject},
            {"name": "data", "resource": bundle},
        ],
    }
    return client.post(path, data=json.dumps(body), content_type=FHIR_JSON)


def with_resource(resource: dict) -> dict:
    bundle = severe_pain_patient("pro")
    bundle["entry"].append({"resource": resource})
    return bundle


def assert_400(resp) -> dict:
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert resp.mimetype == FHIR_JSON
    outcome = resp.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "business-rule"
    return outcome


def test_a_condition_of_another_patient_in_the_data_is_a_400_naming_type_and_count(client):
    outcome = assert_400(apply(client, with_resource(stenosis("someone-else", "c-other"))))
    text = json.dumps(outcome)
    assert "parameter 'data': 1 Condition resource(s) not about the subject" in text
    assert "someone-else" not in text and "c-other" not in text


def test_the_subjects_own_data_is_applied(client):
    resp = apply(client, with_resource(stenosis("pro", "c-second")))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["resourceType"] == "CarePlan"


def test_another_patients_condition_in_a_nested_bundle_of_the_data_is_a_400(client):
    # the engine reads nested Bundles' entries, so the check looks inside them too
    inner = {"resourceType": "Bundle", "type": "collection"}
    inner["entry"] = [{"resource": stenosis("someone-else", "c-nested")}]
    assert_400(apply(client, with_resource(inner)))


def test_the_subjects_own_condition_in_a_nested_bundle_is_applied(client):
    inner = {"resourceType": "Bundle", "type": "collection"}
    inner["entry"] = [{"resource": stenosis("pro", "c-nested")}]
    assert apply(client, with_resource(inner)).status_code == 200


def test_a_second_patient_in_the_data_is_a_400(client):
    assert_400(apply(client, with_resource(patient("other"))))


def test_an_activity_definition_apply_checks_the_data_too(client):
    assert_400(apply(client, with_resource(pain("other", 2, 1, "o-other")), path=ACTIVITY_APPLY))
    assert apply(client, severe_pain_patient("pro"), path=ACTIVITY_APPLY).status_code == 200


def test_urn_uuid_references_to_the_subjects_entry_are_accepted(client):
    bundle = severe_pain_patient("pro")
    bundle["entry"][0]["fullUrl"] = "urn:uuid:6f1c1f3e-3c1a-4c55-9a7e-1f0f2f9b0a01"
    for entry in bundle["entry"][1:]:
        entry["resource"]["subject"] = {"reference": bundle["entry"][0]["fullUrl"]}
    assert apply(client, bundle).status_code == 200


@pytest.mark.parametrize("target", ["a Group entry", "no entry"])
def test_urn_uuid_references_to_anything_but_the_subjects_entry_are_a_400(client, target):
    bundle = severe_pain_patient("pro")
    bundle["entry"][0]["fullUrl"] = "urn:uuid:6f1c1f3e-3c1a-4c55-9a7e-1f0f2f9b0a01"
    group_url = "urn:uuid:0b0e4c55-2f5a-4a51-8d0a-7c3f6b9e1d02"
    if target == "a Group entry":
        group = {"resourceType": "Group", "id": "pro", "type": "person", "actual": True}
        bundle["entry"].append({"fullUrl": group_url, "resource": group})
    bundle["entry"][1]["resource"]["subject"] = {"reference": group_url}
    assert_400(apply(client, bundle))


def test_data_without_the_subjects_patient_stays_a_422(client):
    resp = apply(client, severe_pain_patient("pro"), subject="Patient/other")
    assert resp.status_code == 422


def test_rejections_are_logged_and_counted_without_ids(tmp_path, kb, capsys):
    app = create_app(
        Settings(sqlite_path=tmp_path / "cds.sqlite3", auth_enabled=False, log_level="WARNING"),
        knowledge=kb,
    ).test_client()
    capsys.readouterr()
    assert_400(apply(app, with_resource(stenosis("secret-other", "c-secret"))))
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]
    (event,) = [e for e in events if e["event"] == "data of another patient rejected"]
    assert event["rejected"] == {"data": {"Condition": 1}} and event["total"] == 1
    assert "secret-other" not in json.dumps(event) and "c-secret" not in json.dumps(event)
    metrics = app.get("/metrics").get_data(as_text=True)
    assert 'cds_patient_scope_rejections_total{service="demo-dilation",source="data"' in metrics
