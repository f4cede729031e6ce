"""PlanDefinition/$apply on the fixture content: what a RequestGroup must contain."""

from __future__ import annotations

import pytest
from fhir.resources.R4B import get_fhir_model_class

from service.apply import EVIDENCE_EXTENSION, ISSUES_EXTENSION, apply_plan_definition
from tests.apply.fixture_kb import (
    BASE,
    NOW,
    bundle,
    day,
    healthy_patient,
    mild_pain_patient,
    patient,
    severe_pain_patient,
    stenosis,
)

PD_URL = f"{BASE}/PlanDefinition/demo-dilation"


def valid(resource: dict) -> dict:
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return resource


def apply(kb, data, pid, **kw):
    pd = kb.resolve(PD_URL)
    return apply_plan_definition(kb, pd, subject=f"Patient/{pid}", data=data, now=NOW, **kw)


def action_ids(actions):
    return [a.get("id") for a in actions or []]


def by_id(actions, aid):
    return next(a for a in actions if a.get("id") == aid)


def test_severe_pain_with_stenosis_yields_the_professional_action_with_both_suggestions(kb):
    result = apply(kb, severe_pain_patient("pro"), "pro", trigger="patient-view")
    rg = valid(result.request_group)
    assert rg["status"] == "draft" and rg["intent"] == "proposal"
    assert rg["subject"] == {"reference": "Patient/pro"}
    assert rg["instantiatesCanonical"] == [f"{PD_URL}|1.0.0"]
    assert action_ids(rg["action"]) == ["professional", "first-match"]
    pro = by_id(rg["action"], "professional")
    assert action_ids(pro["action"]) == ["professional-referral", "professional-balloon"]
    assert result.issues == []


def test_the_request_group_action_copies_the_plan_definition_action(kb):
    rg = apply(kb, severe_pain_patient("pro"), "pro", trigger="patient-view").request_group
    source = kb.resolve(PD_URL)["action"][0]
    pro = by_id(rg["action"], "professional")
    for element in (
        "title",
        "description",
        "prefix",
        "priority",
        "textEquivalent",
        "code",
        "documentation",
        "selectionBehavior",
        "groupingBehavior",
        "requiredBehavior",
        "precheckBehavior",
        "cardinalityBehavior",
    ):
        assert pro[element] == source[element], element
    balloon = by_id(pro["action"], "professional-balloon")
    assert balloon["relatedAction"] == source["action"][1]["relatedAction"]
    assert balloon["timingDuration"] == source["action"][1]["timingDuration"]
    urls = [e["url"] for e in pro["extension"]]
    assert "http://hl7.org/fhir/uv/cpg/StructureDefinition/cpg-strengthOfRecommendation" in urls
    assert f"{BASE}/StructureDefinition/override-reason" in urls
    assert f"{BASE}/StructureDefinition/evidence-expression" not in urls, "consumed by $apply"
    recommended = by_id(pro["action"], "professional-referral")["extension"]
    assert recommended == [
        {"url": f"{BASE}/StructureDefinition/is-recommended", "valueBoolean": True}
    ]


def test_evidence_lists_the_condition_and_the_severe_pain_score_with_readable_summaries(kb):
    rg = apply(kb, severe_pain_patient("pro"), "pro", trigger="patient-view").request_group
    pro = by_id(rg["action"], "professional")
    evidence = [e["valueReference"] for e in pro["extension"] if e["url"] == EVIDENCE_EXTENSION]
    assert evidence == [
        {
            "reference": "Condition/c1",
            "display": "Stenosis of anal canal (disorder), onset 2026-03-01",
        },
        {"reference": "Observation/o1", "display": f"Pain score 0-10: 8, {day(5)[:10]}"},
    ]


def test_suggestions_reference_proposed_resources_built_from_their_activity_definitions(kb):
    result = apply(kb, severe_pain_patient("pro"), "pro", trigger="patient-view")
    pro = by_id(result.request_group["action"], "professional")
    referral_ref = by_id(pro["action"], "professional-referral")["resource"]["reference"]
    resources = {f"{r['resourceType']}/{r['id']}": r for r in result.resources}
    referral = valid(resources[referral_ref])
    assert referral["resourceType"] == "ServiceRequest"
    assert referral["status"] == "draft" and referral["intent"] == "proposal"
    assert referral["subject"] == {"reference": "Patient/pro"}
    assert referral["instantiatesCanonical"] == [f"{BASE}/ActivityDefinition/demo-referral|1.0.0"]
    assert referral["code"]["coding"][0]["code"] == "174368001"
    assert referral["priority"] == "urgent"
    assert len(resources) == 2


def test_mild_pain_yields_the_home_action_with_dynamic_values_set(kb):
    result = apply(kb, mild_pain_patient("home"), "home", trigger="patient-view")
    assert action_ids(result.request_group["action"]) == ["home", "first-match"]
    home = by_id(result.request_group["action"], "home")
    assert action_ids(home["action"]) == ["home-program", "home-device"], "spare set: women only"
    program_ref = by_id(home["action"], "home-program")["resource"]["reference"]
    program = valid(next(r for r in result.resources if f"ServiceRequest/{r['id']}" == program_ref))
    assert program["quantityQuantity"]["value"] == 17
    assert program["note"] == [{"text": "Target Hegar size 17"}]
    assert program["patientInstruction"] == "Dilate daily for Bo"
    assert program["occurrenceTiming"]["repeat"]["duration"] == 12
    assert program["occurrenceTiming"]["repeat"]["durationUnit"] == "min"
    assert program["occurrenceTiming"]["repeat"]["frequency"] == 1, "static timing kept"


def test_a_dynamic_value_follows_the_patient_age(kb):
    child = bundle(patient("kid", birth="2020-01-01", name="Cy"), stenosis("kid"))
    result = apply(kb, child, "kid", trigger="patient-view")
    program = next(r for r in result.resources if r["resourceType"] == "ServiceRequest")
    assert program["quantityQuantity"]["value"] == 16


def test_two_actions_sharing_an_activity_definition_get_distinct_deterministic_resources(kb):
    data = mild_pain_patient("h2", gender="female")
    first = apply(kb, data, "h2", trigger="patient-view")
    home = by_id(first.request_group["action"], "home")
    refs = [
        by_id(home["action"], a)["resource"]["reference"]
        for a in ("home-device", "home-device-second")
    ]
    assert refs[0] != refs[1] and all(r.startswith("DeviceRequest/") for r in refs)
    again = apply(kb, data, "h2", trigger="patient-view")
    assert again.request_group == first.request_group
    other = apply(kb, mild_pain_patient("h3", gender="female"), "h3", trigger="patient-view")
    other_refs = {
        a["resource"]["reference"] for a in by_id(other.request_group["action"], "home")["action"]
    }
    assert not other_refs & set(refs), "ids differ per subject"


def test_a_patient_without_stenosis_gets_an_empty_request_group(kb):
    result = apply(kb, healthy_patient("none"), "none", trigger="patient-view")
    assert "action" not in valid(result.request_group)
    assert result.resources == [] and result.issues == []
    assert result.evaluated["DemoDilationExpressions"]["Recommend Professional"] is False


def test_the_trigger_selects_the_actions_of_that_hook_only(kb):
    data = mild_pain_patient("t1")
    assert action_ids(apply(kb, data, "t1", trigger="order-select").request_group["action"]) == [
        "home"
    ]
    signed = apply(kb, data, "t1", trigger="order-sign")
    assert "adult-stenosis" in action_ids(signed.request_group["action"])


def test_without_a_trigger_every_applicable_action_is_applied(kb):
    ids = action_ids(apply(kb, mild_pain_patient("t2"), "t2").request_group["action"])
    assert ids[:3] == ["home", "adult-stenosis", "first-match"]


def test_a_cql_expression_condition_is_evaluated_from_the_generated_library(kb):
    adult = apply(kb, mild_pain_patient("a1"), "a1", trigger="order-sign").request_group
    child = apply(
        kb, bundle(patient("a2", birth="2020-01-01"), stenosis("a2")), "a2", trigger="order-sign"
    )
    assert "adult-stenosis" in action_ids(adult["action"])
    assert "adult-stenosis" not in action_ids(child.request_group.get("action"))


def test_applicability_behavior_any_applies_only_the_first_applicable_child(kb):
    rg = apply(kb, severe_pain_patient("f1"), "f1", trigger="patient-view").request_group
    assert action_ids(by_id(rg["action"], "first-match")["action"]) == ["first-match-a"]
    rg = apply(kb, mild_pain_patient("f2"), "f2", trigger="patient-view").request_group
    assert action_ids(by_id(rg["action"], "first-match")["action"]) == ["first-match-a"], "b too"


def test_all_cql_needed_for_a_request_is_evaluated_in_one_engine_call(kb, engine_calls):
    calls = engine_calls(kb)
    apply(kb, mild_pain_patient("c1"), "c1", trigger="patient-view")
    assert len(calls) == 1
    library, expressions = calls[0]
    assert library == "DemoDilationExpressions"
    assert {"Recommend Home", "Recommend Professional", "Target Hegar Note"} <= set(expressions)
    assert "Broken Definition" not in expressions, "order-sign only"


def test_a_failing_condition_becomes_an_issue_and_the_other_actions_still_apply(kb):
    result = apply(kb, severe_pain_patient("b1"), "b1", trigger="order-sign")
    ids = action_ids(result.request_group.get("action"))
    assert "broken" not in ids
    assert any("Broken Definition" in i["diagnostics"] for i in result.issues)
    assert all(i["severity"] in ("error", "warning") for i in result.issues)
    assert any(
        "PlanDefinition/demo-dilation action broken condition" in i.get("location", [""])[0]
        for i in result.issues
    )


def test_a_failing_dynamic_value_leaves_the_element_unset_and_reports_an_issue(kb):
    result = apply(kb, severe_pain_patient("b2"), "b2", trigger="order-sign")
    task = next(r for r in result.resources if r["resourceType"] == "Task")
    assert "description" not in valid(task)
    assert any("dynamicValue description" in i.get("location", [""])[0] for i in result.issues)


def test_cql_parameters_change_the_decision(kb):
    data = severe_pain_patient("p1")
    relaxed = apply(kb, data, "p1", trigger="patient-view", parameters={"Pain Threshold": 9})
    assert action_ids(relaxed.request_group["action"]) == ["home", "first-match"]


def test_the_care_plan_contains_the_request_group_and_the_resources_as_contained(kb):
    result = apply(kb, severe_pain_patient("cp"), "cp", trigger="patient-view")
    plan = valid(result.to_care_plan())
    assert plan["status"] == "draft" and plan["intent"] == "proposal"
    assert plan["subject"] == {"reference": "Patient/cp"}
    contained = {r["id"]: r for r in plan["contained"]}
    rg = contained[result.request_group["id"]]
    assert plan["activity"] == [{"reference": {"reference": f"#{rg['id']}"}}]
    for child in by_id(rg["action"], "professional")["action"]:
        ref = child["resource"]["reference"]
        assert ref.startswith("#") and ref[1:] in contained
    assert "extension" not in plan, "no issues"


def test_issues_travel_in_the_care_plan_as_a_contained_operation_outcome(kb):
    plan = valid(apply(kb, severe_pain_patient("ci"), "ci", trigger="order-sign").to_care_plan())
    assert plan["extension"] == [
        {"url": ISSUES_EXTENSION, "valueReference": {"reference": "#apply-issues"}}
    ]
    outcome = next(r for r in plan["contained"] if r["resourceType"] == "OperationOutcome")
    assert outcome["issue"]


def test_practitioner_and_encounter_are_carried_into_the_outputs(kb):
    result = apply(
        kb,
        severe_pain_patient("pe"),
        "pe",
        trigger="patient-view",
        practitioner="Practitioner/dr",
        encounter="Encounter/e1",
    )
    assert result.request_group["author"] == {"reference": "Practitioner/dr"}
    assert result.request_group["encounter"] == {"reference": "Encounter/e1"}
    sr = result.resources[0]
    assert sr["requester"] == {"reference": "Practitioner/dr"}
    assert sr["encounter"] == {"reference": "Encounter/e1"}


def test_data_for_another_patient_is_reported(kb):
    result = apply(kb, severe_pain_patient("x"), "someone-else", trigger="patient-view")
    assert any(i["code"] == "business-rule" for i in result.issues)


@pytest.mark.parametrize("data", [None, [], {"resourceType": "Bundle", "type": "collection"}])
def test_missing_data_does_not_crash(kb, data):
    result = apply(kb, data, "nobody", trigger="patient-view")
    assert "action" not in valid(result.request_group)
    assert any(i["code"] == "not-found" for i in result.issues)


def test_a_nested_plan_definition_is_applied_into_its_own_request_group(kb):
    result = apply(kb, severe_pain_patient("n1"), "n1", trigger="order-sign")
    action = by_id(result.request_group["action"], "nested-plan")
    ref = action["resource"]["reference"]
    assert ref.startswith("RequestGroup/")
    nested = next(r for r in result.resources if f"RequestGroup/{r['id']}" == ref)
    assert valid(nested)["instantiatesCanonical"] == [f"{BASE}/PlanDefinition/demo-nested|1.0.0"]
    assert action_ids(nested["action"]) == ["nested-balloon", "nested-referral"]
    for child in nested["action"]:
        target = child["resource"]["reference"]
        assert any(f"{r['resourceType']}/{r['id']}" == target for r in result.resources)
    plan = valid(result.to_care_plan())
    contained_ids = {r["id"] for r in plan["contained"]}
    assert nested["id"] in contained_ids


def test_the_nested_plan_applies_its_own_conditions(kb):
    result = apply(kb, mild_pain_patient("n2"), "n2", trigger="order-sign")
    ref = by_id(result.request_group["action"], "nested-plan")["resource"]["reference"]
    nested = next(r for r in result.resources if f"RequestGroup/{r['id']}" == ref)
    assert action_ids(nested["action"]) == ["nested-referral"]


def test_an_engine_bug_becomes_an_issue_not_a_crash(kb, monkeypatch):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("engine bug")

    monkeypatch.setattr(kb.engine, "evaluate", broken)
    result = apply(kb, severe_pain_patient("e1"), "e1", trigger="patient-view")
    assert "action" not in valid(result.request_group)
    assert any("ZeroDivisionError" in i["diagnostics"] for i in result.issues)


def test_a_subject_is_required(kb):
    with pytest.raises(ValueError, match="subject"):
        apply_plan_definition(kb, kb.resolve(PD_URL), subject="", data=None)


def test_an_undeclared_cql_parameter_is_reported_not_silently_ignored(kb):
    result = apply(
        kb, severe_pain_patient("u1"), "u1", trigger="patient-view", parameters={"Pain Treshold": 9}
    )
    assert [i["diagnostics"] for i in result.issues] == [
        "CQL parameter 'Pain Treshold' is not declared; ignored"
    ]
    assert "professional" in action_ids(result.request_group["action"])
