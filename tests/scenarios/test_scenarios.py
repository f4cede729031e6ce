"""Every decision row fires for its patients and stays silent for its near-misses, in both engines.

Each scenario (service/preview/example_patients/) is a patient whose record is dated relative to
now. The expected definitions and cards are evaluated with cql-execution (the reference engine,
"oracle") and with our Python ELM engine, on the same committed ELM and the same ValueSets, and the
two engines must agree on every definition of the library.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.scenarios.guideline import (
    ELM_DIR,
    definitions_to_evaluate,
    evidence_of,
    library_for_hook,
    parameters,
    shown_cards,
)
from tests.scenarios.loader import Scenario, load_scenarios

NOW = datetime.now(UTC).replace(microsecond=0)
SCENARIOS = load_scenarios(NOW)
BY_SLUG = {s.slug: s for s in SCENARIOS}
pytestmark = pytest.mark.oracle

_results: dict[tuple[str, str], dict[str, Any]] = {}


def evaluate(oracle, engine: str, scenario: Scenario) -> dict[str, Any]:
    """The scenario's definitions by one engine ("reference" or "ours"), computed once."""
    key = (engine, scenario.slug)
    if key not in _results:
        run = oracle.evaluate if engine == "reference" else oracle.ours
        _results[key] = run(
            ELM_DIR,
            library_for_hook(scenario.hook),
            scenario.patient_data(),
            parameters(scenario),
            scenario.now,
            expressions=definitions_to_evaluate(scenario),
        )
    return _results[key]


def assert_outcome(results: dict[str, Any], scenario: Scenario) -> None:
    wrong = {n: results.get(n) for n in scenario.expected["true"] if results.get(n) is not True}
    wrong |= {n: results.get(n) for n in scenario.expected["false"] if results.get(n) is not False}
    wrong |= {
        n: results.get(n) for n, v in scenario.expected["values"].items() if results.get(n) != v
    }
    assert not wrong, f"{scenario.name}: unexpected results {wrong}"


def assert_cards(results: dict[str, Any], scenario: Scenario) -> None:
    shown = shown_cards(scenario, results)
    missing = set(scenario.expected["actions"]) - shown
    unwanted = set(scenario.expected["absent_actions"]) & shown
    assert not missing and not unwanted, (
        f"{scenario.name}: missing cards {sorted(missing)}, unwanted cards {sorted(unwanted)}"
    )


def assert_evidence(results: dict[str, Any], scenario: Scenario) -> None:
    """Each expected card names the patient's own resources that made it fire."""
    record = {
        (e["resource"]["resourceType"], e["resource"]["id"])
        for e in scenario.patient_data()["entry"]
    }
    for action_id in scenario.expected["actions"]:
        evidence = results.get(evidence_of(scenario, action_id))
        assert isinstance(evidence, list) and evidence, f"{action_id}: no evidence ({evidence})"
        for item in evidence:
            key = (item.get("resourceType"), item.get("id")) if isinstance(item, dict) else item
            assert key in record, f"{action_id}: evidence item is not in the record: {item}"


ids = [s.slug for s in SCENARIOS]


@pytest.mark.parametrize("slug", ids)
def test_reference_engine_reaches_the_expected_outcome(oracle, slug):
    scenario = BY_SLUG[slug]
    assert_outcome(evaluate(oracle, "reference", scenario), scenario)


@pytest.mark.parametrize("slug", ids)
def test_reference_engine_shows_the_expected_cards(oracle, slug):
    scenario = BY_SLUG[slug]
    assert_cards(evaluate(oracle, "reference", scenario), scenario)


@pytest.mark.parametrize("slug", ids)
def test_reference_engine_cites_the_evidence_of_each_card(oracle, slug):
    scenario = BY_SLUG[slug]
    assert_evidence(evaluate(oracle, "reference", scenario), scenario)


@pytest.mark.parametrize("slug", ids)
def test_our_engine_reaches_the_expected_outcome(oracle, slug):
    scenario = BY_SLUG[slug]
    assert_outcome(evaluate(oracle, "ours", scenario), scenario)


@pytest.mark.parametrize("slug", ids)
def test_our_engine_shows_the_expected_cards(oracle, slug):
    scenario = BY_SLUG[slug]
    assert_cards(evaluate(oracle, "ours", scenario), scenario)


@pytest.mark.parametrize("slug", ids)
def test_our_engine_cites_the_evidence_of_each_card(oracle, slug):
    scenario = BY_SLUG[slug]
    assert_evidence(evaluate(oracle, "ours", scenario), scenario)


@pytest.mark.slow
@pytest.mark.parametrize("slug", ids)
def test_both_engines_agree_on_every_definition_of_the_library(oracle, slug):
    scenario = BY_SLUG[slug]
    oracle.compare(
        ELM_DIR,
        library_for_hook(scenario.hook),
        scenario.patient_data(),
        parameters(scenario),
        scenario.now,
    )
