"""docs/guideline.md names the expressions that compute a card's text (`action.*` dynamicValues),
after the static text they replace (synthetic content, independent of the real content)."""

from __future__ import annotations

import json
from pathlib import Path

from service.conventions import EVIDENCE_EXPRESSION as EVIDENCE
from tools.guideline_doc import computed_text, render

BASE = "https://dilation-cds.org/fhir"


def dv(path: str, expression: str, language: str = "text/cql-identifier") -> dict:
    return {"path": path, "expression": {"language": language, "expression": expression}}


def content(tmp_path: Path) -> tuple[Path, Path]:
    ad = {
        "resourceType": "ActivityDefinition",
        "id": "home-kit",
        "url": f"{BASE}/ActivityDefinition/home-kit",
        "kind": "DeviceRequest",
        "description": "Dilator set.",
    }
    child = {
        "id": "kit",
        "title": "Order the dilator set",
        "definitionCanonical": ad["url"],
        "dynamicValue": [dv("%action.title", "Kit Title")],
    }
    action = {
        "id": "r1",
        "prefix": "R1",
        "priority": "routine",
        "title": "Home dilation program",
        "description": "Static description.",
        "trigger": [{"type": "named-event", "name": "patient-view"}],
        "condition": [
            {"kind": "applicability", "expression": dv("", "Recommend Home")["expression"]}
        ],
        "extension": [{"url": EVIDENCE, "valueExpression": dv("", "Home Evidence")["expression"]}],
        "documentation": [{"type": "documentation", "display": "Guideline"}],
        "selectionBehavior": "at-most-one",
        "action": [child],
        "dynamicValue": [
            dv("action.description", "Home Session Instructions"),
            dv("action.title", "%patient.gender", "text/fhirpath"),
            dv("status", "Ignored Override"),
        ],
    }
    pd = {
        "resourceType": "PlanDefinition",
        "id": "plan",
        "url": f"{BASE}/PlanDefinition/plan",
        "title": "Plan",
        "description": "A plan.",
        "usage": "Testing.",
        "action": [action],
    }
    content_dir, cql_dir = tmp_path / "content", tmp_path / "cql"
    content_dir.mkdir()
    cql_dir.mkdir()
    for res in (pd, ad):
        (content_dir / f"{res['id']}.json").write_text(json.dumps(res), encoding="utf-8")
    (cql_dir / "AnalDilationRecommendations.cql").write_text("library X\n", encoding="utf-8")
    return content_dir, cql_dir


def test_computed_text_names_the_element_and_expression_of_action_dynamic_values():
    action = {
        "dynamicValue": [
            dv("action.title", "Card Title"),
            dv("%action.description", "%patient.gender", "text/fhirpath"),
            dv("description", "A definition override, not card text"),
        ]
    }
    assert computed_text(action) == ("title from `Card Title`; description from `%patient.gender`")
    assert computed_text({"title": "static"}) == ""


def test_the_guideline_shows_the_computed_text_after_the_static_text(tmp_path):
    text = render(*content(tmp_path))
    static = text.index("Static description.")
    line = (
        "Computed text: description from `Home Session Instructions`; title from `%patient.gender`."
    )
    assert text.index(line) > static
    assert "- Order the dilator set (computed text: title from `Kit Title`):" in text
    assert "Ignored Override" not in text
