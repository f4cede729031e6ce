"""The FHIR face inside the real application (service/app.py) with the bundled content."""

from __future__ import annotations

import json

import pytest
from fhir.resources.R4B import get_fhir_model_class

from service.app import create_app
from service.config import Settings
from tests.scenarios.loader import load_scenarios


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fhirapp")
    settings = Settings(
        auth_enabled=False,
        sqlite_path=tmp / "cds.sqlite3",
        log_level="ERROR",
        max_request_bytes=256 * 1024,
    )
    return create_app(settings).test_client()


def apply_body(scenario) -> dict:
    return {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "subject", "valueString": f"Patient/{scenario.patient_id}"},
            {"name": "data", "resource": scenario.patient_data()},
        ],
    }


def test_the_app_serves_the_capability_statement_and_the_generated_libraries(client):
    cs = client.get("/fhir/metadata").get_json()
    assert cs["resourceType"] == "CapabilityStatement" and cs["fhirVersion"] == "4.0.1"
    libs = client.get("/fhir/Library?status=active").get_json()
    names = {e["resource"]["name"] for e in libs["entry"]}
    assert {"AnalDilationRecommendations", "AnalDilationCommon", "FHIRHelpers"} <= names


def test_a_scenario_applied_over_http_yields_its_expected_card_actions(client):
    scenario = next(
        s for s in load_scenarios() if s.hook == "patient-view" and s.expected.get("actions")
    )
    resp = client.post(
        "/fhir/PlanDefinition/anal-dilation-recommendations/$apply",
        data=json.dumps(apply_body(scenario)),
        content_type="application/fhir+json",
    )
    assert resp.status_code == 200
    plan = resp.get_json()
    get_fhir_model_class("CarePlan").model_validate(plan)
    rg = next(r for r in plan["contained"] if r["resourceType"] == "RequestGroup")
    assert set(scenario.expected["actions"]) <= {a["id"] for a in rg.get("action", [])}


def test_a_body_over_the_size_limit_is_a_413_operation_outcome(client):
    big = {"resourceType": "Parameters", "parameter": [{"name": "x", "valueString": "a" * 300_000}]}
    resp = client.post(
        "/fhir/PlanDefinition/anal-dilation-recommendations/$apply",
        data=json.dumps(big),
        content_type="application/fhir+json",
    )
    assert resp.status_code == 413
    assert resp.get_json()["resourceType"] == "OperationOutcome"
