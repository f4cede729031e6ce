"""Every clinical scenario through $apply on the real content: expected actions, valid FHIR, and
a golden CarePlan.

The scenarios are materialised at a FIXED evaluation time, so the whole CarePlan (ids, dates,
evidence) is deterministic and can be compared with `tests/apply/golden/<slug>.json`. After a
deliberate change of content or of $apply, regenerate and review the diff:

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/apply/test_scenarios.py
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import os
from functools import lru_cache
from pathlib import Path

import pytest
from fhir.resources.R4B import get_fhir_model_class

from service.apply import apply_plan_definition, load_knowledge
from service.apply.requests import draft_orders, hook_parameters
from service.knowledge import KnowledgeBase
from tests.apply.fixture_kb import ROOT
from tests.scenarios.loader import load_scenarios

GOLDEN = Path(__file__).resolve().parent / "golden"
REGENERATE = "UPDATE_GOLDEN=1 .venv/bin/pytest tests/apply/test_scenarios.py, then review git diff"
FIXED_NOW = dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC)
SCENARIOS = load_scenarios(FIXED_NOW)


@lru_cache(maxsize=1)
def content_kb() -> KnowledgeBase:
    return load_knowledge(content_dir=ROOT / "plandefinitions", cql_dir=ROOT / "cql")


def plans_for(kb: KnowledgeBase, hook: str) -> list[dict]:
    return [
        pd
        for pd in kb.plan_definitions
        if any(t.get("name") == hook for a in pd.get("action", []) for t in a.get("trigger", []))
    ]


def run(scenario):
    kb = content_kb()
    parameters = dict(scenario.parameters)
    drafts = draft_orders(scenario.hook, scenario.context)
    for name, value in hook_parameters(scenario.hook, scenario.context, drafts).items():
        parameters.setdefault(name, value)
    results = [
        apply_plan_definition(
            kb,
            pd,
            subject=f"Patient/{scenario.patient_id}",
            data=scenario.patient_data(),
            parameters=parameters,
            now=scenario.now,
            trigger=scenario.hook,
        )
        for pd in plans_for(kb, scenario.hook)
    ]
    return results


def applied_ids(results) -> set[str]:
    return {a["id"] for r in results for a in r.request_group.get("action", [])}


def valid(resource: dict) -> dict:
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return resource


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.slug for s in SCENARIOS])
def test_scenario_yields_the_expected_actions_in_a_valid_care_plan(scenario):
    results = run(scenario)
    assert results, f"no PlanDefinition has a {scenario.hook} trigger"
    applied = applied_ids(results)
    expected = scenario.expected
    missing = set(expected.get("actions", [])) - applied
    assert not missing, f"{scenario.name}: missing {sorted(missing)}; applied {sorted(applied)}"
    unwanted = set(expected.get("absent_actions", [])) & applied
    assert not unwanted, f"{scenario.name}: must not apply {sorted(unwanted)}"
    for result in results:
        assert not [i for i in result.issues if i["severity"] in ("error", "fatal")], result.issues
        valid(result.request_group)
        for resource in result.resources:
            valid(resource)
        valid(result.to_care_plan())


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.slug for s in SCENARIOS])
def test_scenario_care_plan_matches_its_golden_file(scenario):
    care_plans = [r.to_care_plan() for r in run(scenario)]
    path = GOLDEN / f"{scenario.slug}.json"
    text = json.dumps(care_plans, indent=1, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text)
    if not path.is_file():  # a scenario added by the content: its actions are still checked above
        pytest.skip(f"no golden CarePlan yet for this new scenario: {REGENERATE}")
    if json.loads(path.read_text()) != care_plans:
        diff = difflib.unified_diff(
            path.read_text().splitlines(), text.splitlines(), "golden", "now", lineterm="", n=2
        )
        shown = "\n".join(list(diff)[:60])
        pytest.fail(f"{scenario.slug}: the CarePlan changed. If intended: {REGENERATE}\n{shown}")


def test_every_golden_file_belongs_to_a_scenario():
    slugs = {s.slug for s in SCENARIOS}
    assert {p.stem for p in GOLDEN.glob("*.json")} <= slugs
