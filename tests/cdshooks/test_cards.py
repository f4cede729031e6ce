"""Card mapping rules on hand-written RequestGroups (docs/content-conventions.md)."""

from __future__ import annotations

import pytest

from service.cdshooks.cards import CardContext, build_response, stable_uuid
from tests.cdshooks.fixtures import PLAN, SD
from tests.support.cds_spec import assert_cds_rules

CTX = CardContext(service_id="svc", patient_id="p1", plan_definition=PLAN)


def cards_for(
    *actions: dict, resources: list[dict] | None = None, ctx: CardContext = CTX
) -> list[dict]:
    out = build_response(
        {"resourceType": "RequestGroup", "action": list(actions)}, resources or [], ctx
    )
    assert_cds_rules(out)
    return out["cards"]


def action(**kw) -> dict:
    return {"id": "a1", "title": "Consider professional dilation", **kw}


@pytest.mark.parametrize(
    ("priority", "indicator"),
    [
        ("stat", "critical"),
        ("asap", "warning"),
        ("urgent", "warning"),
        ("routine", "info"),
        (None, "info"),
    ],
)
def test_priority_maps_to_the_indicator(priority, indicator):
    a = action(priority=priority) if priority else action()
    assert cards_for(a)[0]["indicator"] == indicator


def test_an_action_without_children_or_resource_is_a_card_without_suggestions():
    (card,) = cards_for(action())
    assert "suggestions" not in card and "selectionBehavior" not in card


def test_an_action_that_proposes_a_resource_itself_becomes_one_suggestion():
    a = action(resource={"reference": "ServiceRequest/sr1"})
    (card,) = cards_for(
        a, resources=[{"resourceType": "ServiceRequest", "id": "sr1", "status": "draft"}]
    )
    (s,) = card["suggestions"]
    assert s["label"] == "Consider professional dilation"
    assert s["actions"][0]["resource"]["id"] == "sr1"
    assert card["selectionBehavior"] == "at-most-one"


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ("at-most-one", "at-most-one"),
        ("any", "any"),
        ("exactly-one", "at-most-one"),
        ("all", "any"),
        ("all-or-none", "any"),
        ("one-or-more", "any"),
        ("bogus", "at-most-one"),
    ],
)
def test_selection_behavior_is_always_a_cds_hooks_value(given, sent):
    children = [{"id": "c1", "title": "One"}, {"id": "c2", "title": "Two"}]
    (card,) = cards_for(action(selectionBehavior=given, action=children))
    assert card["selectionBehavior"] == sent


def test_under_any_several_suggestions_may_be_recommended():
    rec = [{"url": f"{SD}/is-recommended", "valueBoolean": True}]
    children = [
        {"id": "c1", "title": "One", "extension": rec},
        {"id": "c2", "title": "Two", "extension": rec},
    ]
    (card,) = cards_for(action(selectionBehavior="any", action=children))
    assert [s.get("isRecommended") for s in card["suggestions"]] == [True, True]


def test_a_long_title_is_cut_below_140_characters():
    (card,) = cards_for(action(title="Consider " + "very " * 40 + "long"))
    assert len(card["summary"]) == 139 and card["summary"].endswith("…")


def test_uuids_are_uuid5_of_service_action_and_patient():
    children = [{"id": "c1", "title": "One"}]
    (card,) = cards_for(action(action=children))
    assert card["uuid"] == stable_uuid("card", "svc", "a1", "p1")
    assert card["suggestions"][0]["uuid"] == stable_uuid("suggestion", "svc", "a1", "c1", "p1")


def test_source_and_strength_fall_back_to_the_plan_definition():
    pd = {
        **PLAN,
        "relatedArtifact": [
            {"type": "documentation", "label": "Guideline v1", "url": "https://g.example"}
        ],
    }
    (card,) = cards_for(action(), ctx=CardContext("svc", "p1", pd))
    assert card["source"] == {
        "label": "Guideline v1",
        "url": "https://g.example",
        "topic": {
            "system": "https://dilation-cds.org/fhir/CodeSystem/anal-dilation-local",
            "code": "anal-dilation",
            "display": "Anal dilation",
        },
    }
    assert "quality of evidence: moderate" in card["detail"]
    assert card["links"] == [
        {"label": "Guideline v1", "url": "https://g.example", "type": "absolute"}
    ]


def test_evidence_without_display_shows_the_reference():
    ev = [{"url": f"{SD}/pertinent-evidence", "valueReference": {"reference": "Condition/c9"}}]
    (card,) = cards_for(action(extension=ev))
    assert "- Condition/c9" in card["detail"]


def test_no_field_is_ever_null_or_empty():
    bare = {"resourceType": "PlanDefinition", "id": "bare"}
    a = action(description="", documentation=[], extension=[])
    (card,) = cards_for(a, ctx=CardContext("svc", "p1", bare))
    assert set(card) == {"uuid", "summary", "indicator", "source"}
