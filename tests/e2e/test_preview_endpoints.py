"""The preview's server side without a browser: scenarios endpoint, diagrams from any content,
the evidence endpoint and its development-only guard, escaping of server-rendered values."""

from __future__ import annotations

import copy
import uuid

import pytest

from service.app import create_app
from service.config import Settings
from service.preview.diagram import build_diagram, cql_definitions
from service.preview.records import prefetch_for
from tests.cdshooks.fixtures import PLAN, FixtureApply, FixtureKnowledgeBase
from tests.scenarios.loader import load_scenarios


@pytest.fixture
def dev_client(preview_app):
    return preview_app.test_client()


@pytest.fixture
def jwt_app(tmp_path):
    return create_app(
        Settings(
            sqlite_path=tmp_path / "cds.sqlite3",
            external_base_url="http://localhost",  # required with client JWTs verified
            log_level="WARNING",
        )
    )


def test_the_scenarios_endpoint_serves_every_case_with_dates_materialised(dev_client):
    body = dev_client.get("/preview/api/scenarios").get_json()
    served = {s["slug"]: s for s in body["scenarios"]}
    cases = load_scenarios()
    assert set(served) == {c.slug for c in cases}
    for case in cases:
        s = served[case.slug]
        assert (s["hook"], s["patientId"], s["rows"]) == (case.hook, case.patient_id, case.rows)
        assert s["expectedActions"] == case.expected["actions"]
        assert s["parameters"] == case.parameters
        assert "@now" not in str(s["bundle"]) and "@today" not in str(s["bundle"])


def test_the_page_warns_when_client_jwts_are_verified(jwt_app, dev_client):
    assert "CDS_AUTH=off" in jwt_app.test_client().get("/preview").get_data(as_text=True)
    assert 'id="auth-banner"' not in dev_client.get("/preview").get_data(as_text=True)


def _hook_body(app, scenario) -> tuple[str, dict]:
    services = app.extensions["cds"].discovery["services"]
    descriptor = next(d for d in services if d["hook"] == scenario.hook)
    resources = [e["resource"] for e in scenario.bundle["entry"]]
    body = {
        "hook": scenario.hook,
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/x", "patientId": scenario.patient_id},
        "prefetch": prefetch_for(descriptor, resources),
    }
    return descriptor["id"], body


def test_explain_returns_the_pertinent_evidence_of_each_card(preview_app, dev_client):
    scenario = next(
        s for s in load_scenarios() if s.kind == "positive" and s.hook == "patient-view"
    )
    service, body = _hook_body(preview_app, scenario)
    cards = dev_client.post(f"/cds-services/{service}", json=body).get_json()["cards"]
    explained = dev_client.post(
        "/preview/api/explain", json={"serviceId": service, "request": body}
    ).get_json()
    by_title = {a["title"]: a for a in explained["actions"]}
    assert {c["summary"] for c in cards} <= set(by_title)
    record_refs = {
        f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in scenario.bundle["entry"]
    }
    evidence = [ev for c in cards for ev in by_title[c["summary"]]["evidence"]]
    assert evidence, "a positive scenario's card names its evidence"
    assert {ev["reference"] for ev in evidence} <= record_refs


@pytest.mark.parametrize(
    "service", ["anal-dilation-order-safety-order-select", "anal-dilation-order-safety"]
)
def test_explain_answers_an_order_select_call_by_its_service_id_or_the_plan_definition_id(
    preview_app, dev_client, service
):
    scenario = next(
        s for s in load_scenarios() if s.kind == "positive" and s.hook == "order-select"
    )
    _, body = _hook_body(preview_app, scenario)
    body["context"] = {**body["context"], **scenario.context}
    cards = dev_client.post(f"/cds-services/{service}", json=body).get_json()["cards"]
    explained = dev_client.post(
        "/preview/api/explain", json={"serviceId": service, "request": body}
    )
    assert explained.status_code == 200
    assert cards and {c["summary"] for c in cards} <= {
        a["title"] for a in explained.get_json()["actions"]
    }


def test_explain_is_refused_when_client_jwts_are_verified(jwt_app):
    resp = jwt_app.test_client().post(
        "/preview/api/explain", json={"serviceId": "x", "request": {}}
    )
    assert resp.status_code == 403
    assert resp.get_json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"serviceId": "no-such-service", "request": {"hook": "patient-view"}}, 404),
        ({"serviceId": "anal-dilation-recommendations", "request": {"hook": "order-sign"}}, 400),
        ({"serviceId": "anal-dilation-recommendations", "request": {"hook": "patient-view"}}, 400),
        # a per-hook service id answers its own hook only
        (
            {
                "serviceId": "anal-dilation-order-safety-order-sign",
                "request": {"hook": "order-select"},
            },
            400,
        ),
        ({"serviceId": ["not", "an", "id"], "request": {"hook": "patient-view"}}, 404),
        ([1, 2], 400),
    ],
)
def test_explain_rejects_malformed_requests(dev_client, body, status):
    resp = dev_client.post("/preview/api/explain", json=body)
    assert resp.status_code == status


def test_the_diagram_is_drawn_from_whatever_content_is_loaded(tmp_path):
    """A second guideline appears by adding content: here the CDS Hooks fixture PlanDefinition."""
    plan = copy.deepcopy(PLAN)
    plan["action"][0]["title"] = "<b>escaped</b> escalation"
    plan["action"][0]["priority"] = "stat"
    plan["action"][0]["action"] = [{"title": "Refer", "definitionCanonical": "https://x/AD/none"}]
    plan["action"][1]["extension"] = [
        {
            "url": "https://dilation-cds.org/fhir/StructureDefinition/system-action",
            "valueBoolean": True,
        }
    ]
    app = create_app(
        Settings(auth_enabled=False, sqlite_path=tmp_path / "c.sqlite3", log_level="WARNING"),
        knowledge=FixtureKnowledgeBase([plan]),
        apply=FixtureApply(),
    )
    html = app.test_client().get("/preview/diagram").get_data(as_text=True)
    assert 'data-plan-definition="fixture-dilation"' in html
    assert "&lt;b&gt;escaped&lt;/b&gt; escalation" in html and "<b>escaped" not in html
    diagram = build_diagram(FixtureKnowledgeBase([plan]), plan)
    assert [o.id for o in diagram.outcomes] == ["escalate-severe-pain", "home-program"]
    assert diagram.outcomes[0].indicator == "critical"
    assert diagram.outcomes[0].choices[0].proposes == "https://x/AD/none"  # unresolved: shown as is
    assert [o.system_action for o in diagram.outcomes] == [False, True]
    assert html.count("system action (no card)") == 1


def test_cql_definitions_are_cut_at_the_next_definition():
    cql = 'define "A":\n  1\n\n// about B\ndefine "B":\n  2\ndefine function "F"(x Integer):\n  x'
    defs = cql_definitions(cql)
    assert defs["A"] == 'define "A":\n  1'
    assert defs["B"] == 'define "B":\n  2'
    assert defs["F"].startswith('define function "F"')
