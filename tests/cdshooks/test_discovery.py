"""Discovery: services derived from PlanDefinitions, with generated prefetch templates."""

from __future__ import annotations

from datetime import date

from service.cdshooks.discovery import prefetch_templates
from tests.cdshooks.conftest import SERVICE
from tests.support.cds_spec import assert_conforms


def test_discovery_lists_the_plan_definition_once_per_supported_named_event_trigger(client, auth):
    resp = client.get("/cds-services", headers=auth("/cds-services"))
    assert resp.status_code == 200
    assert_conforms("/cds-services", "GET", 200, resp.get_json())
    services = resp.get_json()["services"]
    assert sorted(s["hook"] for s in services) == ["order-select", "order-sign", "patient-view"]
    # several hooks: one id per hook (test_service_ids.py)
    assert {s["id"]: s["hook"] for s in services} == {
        f"{SERVICE}-patient-view": "patient-view",
        f"{SERVICE}-order-select": "order-select",
        f"{SERVICE}-order-sign": "order-sign",
    }
    s = services[0]
    assert s["title"] == "Fixture: professional versus home anal dilation"
    assert s["description"] == "Recommends professional or home dilation."


def test_every_service_prefetches_the_patient_and_filters_by_value_set_and_date(client, auth):
    # every search asks for pages of 100 (_count): at a server's default page size (HAPI: 20) a
    # long record would need more pages than CDS_FHIR_MAX_PAGES follows
    services = client.get("/cds-services", headers=auth("/cds-services")).get_json()["services"]
    prefetch = services[0]["prefetch"]
    assert prefetch["patient"] == "Patient/{{context.patientId}}"
    assert set(prefetch) == {"patient", "Condition", "Observation"}
    assert prefetch["Condition"] == (
        "Condition?patient={{context.patientId}}"
        "&code:in=https://dilation-cds.org/fhir/ValueSet/anal-stenosis&_count=100"
    )
    obs = prefetch["Observation"]
    assert obs.startswith("Observation?patient={{context.patientId}}&code:in=")
    assert "&date=ge" in obs


def test_a_relative_look_back_becomes_a_lower_date_bound_with_a_day_of_margin():
    reqs = [
        {
            "type": "Procedure",
            "codeFilter": [
                {
                    "path": "code",
                    "code": [{"system": "http://snomed.info/sct", "code": "174368001"}],
                }
            ],
            "dateFilter": [{"path": "performed", "valueDuration": {"value": 1, "code": "a"}}],
        }
    ]
    t = prefetch_templates(reqs, today=date(2026, 1, 10))
    assert t["Procedure"] == (
        "Procedure?patient={{context.patientId}}&code=http://snomed.info/sct|174368001&date=ge2025-01-08&_count=100"
    )


def test_unbounded_or_unmappable_filters_widen_the_query_instead_of_narrowing_it():
    reqs = [
        {"type": "Condition", "codeFilter": [{"path": "extension.value"}]},
        {"type": "Condition", "dateFilter": [{"path": "onset", "valueDateTime": "2020-01-01"}]},
    ]
    t = prefetch_templates(reqs, today=date(2026, 1, 10))
    assert t == {
        "patient": "Patient/{{context.patientId}}",
        "Condition": "Condition?patient={{context.patientId}}&_count=100",
    }


def test_templates_use_only_context_tokens_allowed_by_the_spec(client, auth):
    services = client.get("/cds-services", headers=auth("/cds-services")).get_json()["services"]
    for s in services:
        for template in s["prefetch"].values():
            assert "{{context.userId}}" not in template
            assert "Practitioner/{{" not in template


def test_requirements_of_one_type_are_merged_into_one_query_per_kind_of_filter():
    vs = "https://dilation-cds.org/fhir/ValueSet/"
    reqs = [
        {"type": "Condition", "codeFilter": [{"path": "code", "valueSet": vs + "a"}]},
        {"type": "Condition", "codeFilter": [{"path": "code", "valueSet": vs + "b"}]},
        {"type": "Observation", "codeFilter": [{"path": "code", "valueSet": vs + "pain"}]},
        {
            "type": "Observation",
            "codeFilter": [{"path": "code", "code": [{"system": "s", "code": "x"}]}],
        },
        {
            "type": "Observation",
            "codeFilter": [{"path": "code", "code": [{"system": "s", "code": "y"}]}],
        },
        {"type": "CarePlan"},
        {"type": "Procedure", "codeFilter": [{"path": "code", "valueSet": vs + "p"}]},
        {"type": "Procedure"},
    ]
    t = prefetch_templates(reqs, today=date(2026, 1, 10))
    assert t == {
        "patient": "Patient/{{context.patientId}}",
        "Condition": f"Condition?patient={{{{context.patientId}}}}&code:in={vs}a,{vs}b&_count=100",
        "Observation": f"Observation?patient={{{{context.patientId}}}}&code:in={vs}pain&_count=100",
        "Observation-2": "Observation?patient={{context.patientId}}&code=s|x,s|y&_count=100",
        "CarePlan": "CarePlan?patient={{context.patientId}}&_count=100",
        "Procedure": "Procedure?patient={{context.patientId}}&_count=100",
    }
