"""PlanDefinitions follow docs/content-conventions.md: one card per top-level action."""

from __future__ import annotations

import re

import pytest

from tests.content.content import BASE, LOCAL_SYSTEM, of_type, top_actions

HOOKS = {"patient-view", "order-select", "order-sign"}
STRENGTH = "http://hl7.org/fhir/uv/cpg/StructureDefinition/cpg-strengthOfRecommendation"
QUALITY = "http://hl7.org/fhir/uv/cpg/StructureDefinition/cpg-qualityOfEvidence"
EVIDENCE = f"{BASE}/StructureDefinition/evidence-expression"
OVERRIDE = f"{BASE}/StructureDefinition/override-reason"
RECOMMENDED = f"{BASE}/StructureDefinition/is-recommended"
TARGET = f"{BASE}/StructureDefinition/target-expression"
ACTION_TYPE = "http://terminology.hl7.org/CodeSystem/action-type"
ESCALATION_EVIDENCE = {
    "R1 Evidence",
    "R2 Evidence",
    "R3 Evidence",
    "R4 Evidence",
    "R12 Refractory Evidence",
    "R14 Evidence",
    "R15 Enterocolitis Evidence",
}
ACTIONS = top_actions()


def ext(element, url):
    return [e for e in element.get("extension", []) if e["url"] == url]


def action_ids():
    return [a["id"] for _, a in ACTIONS]


def test_plan_definitions_are_eca_rules_with_one_decision_library():
    for plan in of_type("PlanDefinition"):
        assert plan["type"]["coding"][0]["code"] == "eca-rule"
        assert len(plan["library"]) == 1


def test_action_ids_are_unique_within_each_plan_definition():
    for plan in of_type("PlanDefinition"):
        ids = [plan_action["id"] for plan_action in plan["action"]]
        ids += [c["id"] for a in plan["action"] for c in a.get("action", [])]
        assert len(ids) == len(set(ids)), plan["id"]


@pytest.mark.parametrize("action_id", action_ids())
def test_each_card_has_a_named_event_trigger_priority_and_applicability(action_id):
    _, action = next((p, a) for p, a in ACTIONS if a["id"] == action_id)
    assert action["trigger"] and all(
        t["type"] == "named-event" and t["name"] in HOOKS for t in action["trigger"]
    )
    assert action["priority"] in {"stat", "urgent", "routine"}
    assert [c["kind"] for c in action["condition"]] == ["applicability"]
    assert action["condition"][0]["expression"]["language"] == "text/cql-identifier"


@pytest.mark.parametrize("action_id", action_ids())
def test_each_card_summary_fits_and_its_description_states_reason_recommendation_source(
    action_id,
):
    _, action = next((p, a) for p, a in ACTIONS if a["id"] == action_id)
    assert len(action["title"]) < 140
    text = action["description"]
    assert re.search(r"\*\*Reason:\*\* .+", text)
    assert re.search(r"\*\*Recommendation:\*\* .+", text)
    assert re.search(r"\*\*Source:\*\* .+", text)


@pytest.mark.parametrize("action_id", action_ids())
def test_each_card_cites_its_guideline_source_first_and_grades_the_recommendation(action_id):
    _, action = next((p, a) for p, a in ACTIONS if a["id"] == action_id)
    docs = action["documentation"]
    assert docs[0]["type"] == "documentation" and docs[0]["display"]
    assert all(d["type"] == "citation" and d["display"] for d in docs[1:])
    (strength,) = ext(action, STRENGTH)
    (quality,) = ext(action, QUALITY)
    assert strength["valueCodeableConcept"]["coding"][0]["code"] in {"strong", "weak"}
    assert quality["valueCodeableConcept"]["coding"][0]["code"] in {
        "high",
        "moderate",
        "low",
        "very-low",
    }


@pytest.mark.parametrize("action_id", action_ids())
def test_each_card_names_its_evidence_and_override_reasons(action_id):
    _, action = next((p, a) for p, a in ACTIONS if a["id"] == action_id)
    (evidence,) = ext(action, EVIDENCE)
    assert evidence["valueExpression"]["language"] == "text/cql-identifier"
    (override_vs,) = [v for v in of_type("ValueSet") if v["id"] == "override-reason"]
    allowed = {c["code"] for c in override_vs["expansion"]["contains"]}
    reasons = ext(action, OVERRIDE)
    assert reasons
    for reason in reasons:
        coding = reason["valueCoding"]
        assert coding["system"] == LOCAL_SYSTEM and coding["code"] in allowed and coding["display"]


def test_escalation_cards_are_stat_and_the_rest_urgent_or_routine():
    for _, action in ACTIONS:
        (evidence,) = ext(action, EVIDENCE)
        escalation = evidence["valueExpression"]["expression"] in ESCALATION_EVIDENCE
        assert (action["priority"] == "stat") == escalation, action["id"]


@pytest.mark.parametrize("action_id", action_ids())
def test_suggestions_have_a_valid_selection_behavior_and_at_most_one_recommendation(action_id):
    _, action = next((p, a) for p, a in ACTIONS if a["id"] == action_id)
    children = action.get("action", [])
    if not children:
        assert "selectionBehavior" not in action
        return
    assert action["selectionBehavior"] in {"any", "at-most-one"}
    for child in children:
        assert child["title"]
        assert bool(child.get("definitionCanonical")) != is_remove(child), child["id"]
        for flag in ext(child, RECOMMENDED):
            assert flag["valueBoolean"] is True
    recommended = [c for c in children if ext(c, RECOMMENDED)]
    if action["selectionBehavior"] == "at-most-one":
        assert len(recommended) <= 1


def is_remove(child: dict) -> bool:
    codings = child.get("type", {}).get("coding", [])
    return any(c["system"] == ACTION_TYPE and c["code"] == "remove" for c in codings)


def test_remove_suggestions_delete_the_draft_orders_and_only_on_order_hook_cards():
    offered = set()
    for _, action in ACTIONS:
        hooks = {t["name"] for t in action["trigger"]}
        for child in action.get("action", []):
            if not is_remove(child):
                assert not ext(child, TARGET), child["id"]
                continue
            assert hooks <= {"order-select", "order-sign"}, "only a draft order can be removed"
            (target,) = ext(child, TARGET)
            assert target["valueExpression"] == {
                "language": "text/cql-identifier",
                "expression": "Draft Home Dilation Orders",
            }
            offered.add(action["id"])
    assert offered == {
        "order-home-program-during-red-flag",
        "order-home-program-without-clinical-start",
        "order-home-program-without-clinical-start-pediatric",
    }


def test_removing_the_draft_is_recommended_with_a_red_flag_but_left_to_the_clinician_otherwise():
    removals = {a["id"]: c for _, a in ACTIONS for c in a.get("action", []) if is_remove(c)}
    assert ext(removals["order-home-program-during-red-flag"], RECOMMENDED)
    assert not ext(removals["order-home-program-without-clinical-start"], RECOMMENDED)
    assert not ext(removals["order-home-program-without-clinical-start-pediatric"], RECOMMENDED)


def test_every_decision_row_has_a_card():
    prefixes = {a.get("prefix") for _, a in ACTIONS}
    assert {f"R{n}" for n in range(1, 18)} <= prefixes


def test_order_hooks_are_answered_by_the_order_safety_cards():
    for _, action in ACTIONS:
        hooks = {t["name"] for t in action["trigger"]}
        assert hooks in ({"patient-view"}, {"order-select", "order-sign"}), action["id"]


def test_pediatric_card_defers_to_the_surgeon_and_offers_both_strategies_without_preference():
    (_, r13) = next((p, a) for p, a in ACTIONS if a["id"] == "r13-pediatric-arm-home")
    choices = {c["definitionCanonical"].rsplit("/", 1)[-1] for c in r13["action"]}
    assert choices == {
        "home-dilator-program-pediatric",
        "calibration-only-follow-up",
        "referral-pediatric-surgery",
    }
    assert r13["selectionBehavior"] == "at-most-one"
    assert not any(ext(c, RECOMMENDED) for c in r13["action"])
    assert "surgeon" in r13["title"]


def test_pediatric_card_states_the_age_target_in_its_own_text():
    (_, r13) = next((p, a) for p, a in ACTIONS if a["id"] == "r13-pediatric-arm-home")
    computed = {dv["path"]: dv["expression"]["expression"] for dv in r13["dynamicValue"]}
    assert computed == {
        "action.title": "R13 Card Title",
        "action.description": "R13 Card Description",
    }


def test_every_card_source_links_to_a_published_source_not_a_repository_path():
    for _, action in ACTIONS:
        source = action["documentation"][0]
        assert source["url"].startswith("https://"), action["id"]
        assert "docs/" not in source["display"] and ".md" not in source["display"], action["id"]


def test_escalation_cards_say_how_urgently():
    urgency = re.compile(r"same day|same-day|today|emergency|within (a few )?(days|weeks)", re.I)
    for _, action in ACTIONS:
        if action["priority"] == "stat":
            assert urgency.search(action["title"] + action["description"]), action["id"]


def test_adult_infection_is_not_sourced_from_a_pediatric_malformation_review():
    (_, r1) = next((p, a) for p, a in ACTIONS if a["id"] == "r1-perianal-infection")
    assert not any("Anorectal malformations" in d["display"] for d in r1["documentation"])


def test_controlled_dilation_is_offered_only_when_resting_pressure_allows():
    (_, r9) = next((p, a) for p, a in ACTIONS if a["id"] == "r9-chronic-fissure-professional")
    (controlled,) = [
        c for c in r9["action"] if c["definitionCanonical"].endswith("/controlled-anal-dilation")
    ]
    condition = controlled["condition"][0]["expression"]["expression"]
    assert condition == "Controlled Dilation Acceptable"
