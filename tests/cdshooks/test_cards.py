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


REMOVE_TYPE = {
    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/action-type", "code": "remove"}]
}


def remove_child(*references: str, **kw) -> dict:
    return {
        "id": "a1-remove",
        "title": "Remove the draft home dilation order",
        "type": REMOVE_TYPE,
        "action": [
            {"id": f"a1-remove-{n}", "type": REMOVE_TYPE, "resource": {"reference": ref}}
            for n, ref in enumerate(references, 1)
        ],
        **kw,
    }


def test_a_remove_child_becomes_a_suggestion_deleting_each_target_by_relative_reference():
    child = remove_child("ServiceRequest/draft-123", "DeviceRequest/draft-9")
    (card,) = cards_for(action(action=[child], selectionBehavior="any"))
    (s,) = card["suggestions"]
    assert s["label"] == "Remove the draft home dilation order"
    assert s["uuid"] == stable_uuid("suggestion", "svc", "a1", "a1-remove", "p1")
    assert s["actions"] == [
        {
            "type": "delete",
            "description": "Remove the draft home dilation order",
            "resourceId": "ServiceRequest/draft-123",
        },
        {
            "type": "delete",
            "description": "Remove the draft home dilation order",
            "resourceId": "DeviceRequest/draft-9",
        },
    ]


def test_a_delete_action_is_described_by_the_child_description_when_there_is_one():
    child = remove_child("ServiceRequest/draft-123", description="Delete the draft order.")
    (card,) = cards_for(action(action=[child]))
    ((delete,),) = [s["actions"] for s in card["suggestions"]]
    assert delete["description"] == "Delete the draft order." and "resource" not in delete


def test_a_remove_child_without_a_usable_relative_target_offers_no_suggestion():
    child = remove_child("#contained", "http://ehr.example/fhir/ServiceRequest/1", "no-type")
    referral = {"id": "a1-ref", "title": "Refer", "resource": {"reference": "ServiceRequest/sr1"}}
    (card,) = cards_for(
        action(action=[referral, child]),
        resources=[{"resourceType": "ServiceRequest", "id": "sr1", "status": "draft"}],
    )
    assert [s["label"] for s in card["suggestions"]] == ["Refer"]


def test_a_recommended_remove_child_is_recommended_beside_create_suggestions():
    rec = [{"url": "https://dilation-cds.org/fhir/StructureDefinition/is-recommended",
            "valueBoolean": True}]  # fmt: skip
    referral = {"id": "a1-ref", "title": "Refer", "resource": {"reference": "ServiceRequest/sr1"}}
    child = remove_child("ServiceRequest/draft-123", extension=rec)
    (card,) = cards_for(
        action(action=[referral, child], selectionBehavior="any"),
        resources=[{"resourceType": "ServiceRequest", "id": "sr1", "status": "draft"}],
    )
    create, delete = card["suggestions"]
    assert create["actions"][0]["type"] == "create" and "isRecommended" not in create
    assert delete["isRecommended"] is True and delete["actions"][0]["type"] == "delete"


def _action_errors(item: dict) -> list[str]:
    import jsonschema

    from tests.support.cds_spec import openapi

    schema = {"components": openapi()["components"], "$ref": "#/components/schemas/Action"}
    return [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(item)]


def test_delete_actions_of_a_card_conform_to_the_openapi_action_schema():
    (card,) = cards_for(action(action=[remove_child("ServiceRequest/draft-123")]))
    (delete,) = card["suggestions"][0]["actions"]
    assert _action_errors(delete) == []


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "delete", "description": "d"},
        {"type": "delete", "description": "d", "resourceId": "http://x.org/fhir/ServiceRequest/1"},
        {"type": "delete", "description": "d", "resourceId": "ServiceRequest/1",
         "resource": {"resourceType": "ServiceRequest"}},
    ],
    ids=["no-resourceId", "absolute", "with-resource"],
)  # fmt: skip
def test_the_openapi_action_schema_refuses_malformed_delete_actions(bad):
    assert _action_errors(bad)
