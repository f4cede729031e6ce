"""How a scenario is evaluated: which library and PlanDefinition actions a hook uses."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from service.apply.requests import draft_orders, hook_parameters
from tests.scenarios.loader import Scenario

ROOT = Path(__file__).resolve().parents[2]
ELM_DIR = ROOT / "cql" / "elm"
CONTENT_DIR = ROOT / "plandefinitions"
IDENTIFIER = "text/cql-identifier"
EVIDENCE = "https://dilation-cds.org/fhir/StructureDefinition/evidence-expression"


@dataclass(frozen=True)
class Card:
    """A top-level PlanDefinition action: one card, shown when every condition is true."""

    plan: str
    action_id: str
    hooks: tuple[str, ...]
    conditions: tuple[str, ...]
    evidence: str | None


@cache
def plan_definitions() -> tuple[dict, ...]:
    paths = sorted(CONTENT_DIR.rglob("*.json"))
    resources = [json.loads(p.read_text()) for p in paths]
    return tuple(r for r in resources if r.get("resourceType") == "PlanDefinition")


def library_name(plan: dict) -> str:
    return plan["library"][0].split("|")[0].rsplit("/", 1)[-1]


@cache
def cards() -> tuple[Card, ...]:
    out = []
    for plan in plan_definitions():
        for action in plan["action"]:
            conditions = tuple(
                c["expression"]["expression"]
                for c in action.get("condition", [])
                if c["kind"] == "applicability" and c["expression"]["language"] == IDENTIFIER
            )
            triggers = action.get("trigger", [])
            hooks = tuple(t["name"] for t in triggers if t["type"] == "named-event")
            evidence = next(
                (
                    e["valueExpression"]["expression"]
                    for e in action.get("extension", [])
                    if e["url"] == EVIDENCE
                ),
                None,
            )
            out.append(Card(plan["id"], action["id"], hooks, conditions, evidence))
    return tuple(out)


def library_for_hook(hook: str) -> str:
    """The decision library behind the PlanDefinition whose actions trigger on `hook`."""
    names = {
        library_name(p)
        for p in plan_definitions()
        if any(t["name"] == hook for a in p["action"] for t in a.get("trigger", []))
    }
    if len(names) != 1:
        raise AssertionError(f"hook {hook} is served by libraries {sorted(names)}")
    return names.pop()


def cards_for_hook(hook: str) -> list[Card]:
    return [c for c in cards() if hook in c.hooks]


def parameters(scenario: Scenario) -> dict[str, Any]:
    """CQL parameters: the case's overrides plus what the service sets for an order hook
    (`Draft Orders`, and `Selections` for order-select: service.apply.requests)."""
    params = dict(scenario.parameters)
    drafts = draft_orders(scenario.hook, scenario.context)
    params.update(hook_parameters(scenario.hook, scenario.context, drafts))
    return params


def definitions_to_evaluate(scenario: Scenario) -> list[str]:
    """Every definition the scenario's expectations and its hook's cards depend on."""
    names = [*scenario.expected["true"], *scenario.expected["false"], *scenario.expected["values"]]
    for card in cards_for_hook(scenario.hook):
        names.extend(card.conditions)
        if card.action_id in scenario.expected["actions"] and card.evidence:
            names.append(card.evidence)
    return sorted(set(names))


def evidence_of(scenario: Scenario, action_id: str) -> str | None:
    return next(
        (c.evidence for c in cards_for_hook(scenario.hook) if c.action_id == action_id), None
    )


def shown_cards(scenario: Scenario, results: dict[str, Any]) -> set[str]:
    """Action ids whose applicability conditions are all true in `results`."""
    return {
        c.action_id
        for c in cards_for_hook(scenario.hook)
        if all(results.get(name) is True for name in c.conditions)
    }
