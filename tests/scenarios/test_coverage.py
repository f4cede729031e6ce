"""The scenarios cover every decision row and every card, and are well-formed patients."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from fhir.resources.R4B import get_fhir_model_class

from tests.scenarios.guideline import (
    ELM_DIR,
    cards,
    cards_for_hook,
    definitions_to_evaluate,
    library_for_hook,
)
from tests.scenarios.loader import load_scenarios

SCENARIOS = load_scenarios(datetime(2026, 5, 1, 9, 0, tzinfo=UTC))
ROWS = [f"R{n}" for n in range(1, 18)]


@pytest.mark.parametrize("row", ROWS)
def test_every_row_has_a_patient_where_it_fires_and_a_near_miss(row):
    kinds = {s.kind for s in SCENARIOS if row in s.rows}
    assert kinds == {"positive", "near-miss"}, f"{row}: {kinds or 'no scenario'}"


def test_every_card_is_shown_in_one_scenario_and_withheld_in_another():
    shown = {a for s in SCENARIOS for a in s.expected["actions"]}
    withheld = {a for s in SCENARIOS for a in s.expected["absent_actions"]}
    ids = {c.action_id for c in cards()}
    assert ids <= shown, sorted(ids - shown)
    assert ids <= withheld, sorted(ids - withheld)


def test_scenarios_name_only_cards_of_their_hook_and_definitions_of_its_library():
    for s in SCENARIOS:
        hook_cards = {c.action_id for c in cards_for_hook(s.hook)}
        named = set(s.expected["actions"]) | set(s.expected["absent_actions"])
        assert named <= hook_cards, (s.slug, sorted(named - hook_cards))
        elm = json.loads((ELM_DIR / f"{library_for_hook(s.hook)}.json").read_text())
        defined = {d["name"] for d in elm["library"]["statements"]["def"]}
        missing = set(definitions_to_evaluate(s)) - defined
        assert not missing, (s.slug, sorted(missing))


def test_positive_scenarios_expect_a_card_and_every_scenario_expects_something():
    for s in SCENARIOS:
        assert s.expected["true"] or s.expected["false"], s.slug
        if s.kind == "positive":
            assert s.expected["actions"], s.slug


def test_order_scenarios_carry_draft_orders_and_others_do_not():
    for s in SCENARIOS:
        drafts = s.context.get("draftOrders", {}).get("entry", [])
        if s.hook == "patient-view":
            assert not drafts, s.slug
        else:
            # draft, or active for an order re-signed after revision (order-sign allows it)
            statuses = {e["resource"]["status"] for e in drafts}
            assert drafts and statuses <= {"draft", "active"}, s.slug
        if "selections" in s.context:
            assert s.hook == "order-select"


def test_scenario_names_read_as_clinical_sentences():
    for s in SCENARIOS:
        assert s.name[0].isupper() and len(s.name.split()) >= 8 and not s.name.endswith("."), s.name


def test_record_ids_are_unique_within_each_scenario():
    for s in SCENARIOS:
        keys = [
            (e["resource"]["resourceType"], e["resource"]["id"]) for e in s.patient_data()["entry"]
        ]
        assert len(keys) == len(set(keys)), s.slug


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.slug for s in SCENARIOS])
def test_every_scenario_resource_is_valid_fhir(scenario):
    for entry in scenario.patient_data()["entry"]:
        resource = entry["resource"]
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
