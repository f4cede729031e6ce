"""Computed card text: a PlanDefinition action's `dynamicValue` with path `action.<element>` (or
`%action.<element>`; title, description, textEquivalent) sets that element of the RequestGroup
action built from it (the cqf-ruler / CPG convention; docs/content-conventions.md). The static
element is the fallback: a null/empty result keeps it, a failure or non-string keeps it and adds
an issue, a computed title over the card-summary limit keeps it and adds a warning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fhir.resources.R4B import get_fhir_model_class
from flask import Flask

from service.apply import apply_plan_definition, load_knowledge
from service.apply.processor import TITLE_MAX
from service.cdshooks.cards import CardContext, build_response
from service.knowledge import KnowledgeBase, KnowledgeError
from tests.apply.fixture_kb import BASE, NOW, assemble, severe_pain_patient
from tools.expressions import collect_uses

PD_FILE = "PlanDefinition-demo-dilation.json"
PD_URL = f"{BASE}/PlanDefinition/demo-dilation"
STATIC_TITLE = "Severe pain with anal stenosis: refer for professional dilation"
STATIC_DESCRIPTION = "**Reason**: stenosis and severe pain."
STATIC_TEXT = "Refer for professional dilation"


def dv(path: str, expression: str, language: str = "text/cql-identifier") -> dict:
    return {"path": path, "expression": {"language": language, "expression": expression}}


def write_content(tmp_path: Path, *dynamic: dict, action_id: str = "professional", **set_):
    """The fixture tree with `dynamic` as the dynamicValues of one action of the fixture plan
    (and `set_` elements set on it; None removes one)."""
    content, cql = assemble(tmp_path)
    path = content / PD_FILE
    pd = json.loads(path.read_text())
    action = next(a for a in pd["action"] if a["id"] == action_id)
    action["dynamicValue"] = list(dynamic)
    for key, value in set_.items():
        if value is None:
            action.pop(key, None)
        else:
            action[key] = value
    path.write_text(json.dumps(pd), encoding="utf-8")
    return content, cql


def load(tmp_path: Path, *dynamic: dict, **kw) -> KnowledgeBase:
    content, cql = write_content(tmp_path, *dynamic, **kw)
    return load_knowledge(content_dir=content, cql_dir=cql)


def professional(kb: KnowledgeBase, pid: str = "t1"):
    pd = kb.resolve(PD_URL)
    result = apply_plan_definition(
        kb, pd, subject=f"Patient/{pid}", data=severe_pain_patient(pid), now=NOW,
        trigger="patient-view",
    )  # fmt: skip
    get_fhir_model_class("RequestGroup").model_validate(result.request_group)
    top = next(a for a in result.request_group["action"] if a["id"] == "professional")
    return top, result


def issues_at(result, path: str) -> list[dict]:
    return [
        i
        for i in result.issues
        if i.get("location", [""])[0].endswith(f"action professional dynamicValue {path}")
    ]


# -- computed text ------------------------------------------------------------------------
def test_a_cql_definition_returning_a_string_becomes_the_description(tmp_path):
    kb = load(tmp_path, dv("action.description", "Target Hegar Note"))
    top, result = professional(kb)
    assert top["description"] == "Target Hegar size 17"  # adult: 17
    assert top["title"] == STATIC_TITLE, "elements without a dynamicValue stay static"
    assert "dynamicValue" not in top, "the RequestGroup action does not carry the instruction"
    assert result.issues == []
    assert result.evaluated["DemoDilationExpressions"]["Target Hegar Note"] == (
        "Target Hegar size 17"
    )


def test_the_computed_text_is_evaluated_in_the_same_engine_call(tmp_path, engine_calls):
    kb = load(tmp_path, dv("action.description", "Target Hegar Note"))
    plan = kb.plans["PlanDefinition/demo-dilation"]
    assert "Target Hegar Note" in plan.cql_needs("patient-view")["DemoDilationExpressions"]
    calls = engine_calls(kb)
    top, _ = professional(kb)
    assert len(calls) == 1 and "Target Hegar Note" in calls[0][1]
    assert top["description"] == "Target Hegar size 17"


def test_percent_action_paths_and_all_three_elements(tmp_path):
    kb = load(
        tmp_path,
        dv("%action.title", "'Refer  for\n dilation (' + %patient.gender + ')'", "text/fhirpath"),
        dv("action.description", "Target Hegar Note"),
        dv("%action.textEquivalent", "%patient.gender", "text/fhirpath"),
    )
    top, result = professional(kb)
    assert top["title"] == "Refer for dilation (female)", "a computed title is one line"
    assert top["description"] == "Target Hegar size 17"
    assert top["textEquivalent"] == "female"
    assert result.issues == []


def test_a_fhirpath_expression_computes_the_description(tmp_path):
    kb = load(tmp_path, dv("action.description", "%patient.gender", "text/fhirpath"))
    top, result = professional(kb)
    assert top["description"] == "female"
    assert result.issues == []


# -- fallbacks ----------------------------------------------------------------------------
def test_an_empty_fhirpath_result_keeps_the_static_text(tmp_path):
    kb = load(
        tmp_path,
        dv("action.description", "%patient.name.where(use = 'nickname').text", "text/fhirpath"),
        dv("action.textEquivalent", "'   '", "text/fhirpath"),
    )
    top, result = professional(kb)
    assert top["description"] == STATIC_DESCRIPTION
    assert top["textEquivalent"] == STATIC_TEXT, "blank text counts as empty"
    assert result.issues == []


@pytest.mark.parametrize("empty", [None, "", []])
def test_a_null_or_empty_cql_result_keeps_the_static_text(tmp_path, monkeypatch, empty):
    kb = load(tmp_path, dv("action.description", "Target Hegar Note"))
    original = kb.engine.evaluate

    def null_note(library, expressions=None, **kw):
        out = original(library, expressions=expressions, **kw)
        if "Target Hegar Note" in out:
            out["Target Hegar Note"] = empty
        return out

    monkeypatch.setattr(kb.engine, "evaluate", null_note)
    top, result = professional(kb)
    assert top["description"] == STATIC_DESCRIPTION
    assert result.issues == []


@pytest.mark.parametrize(
    ("expression", "language", "returned"),
    [
        ("Has Anal Stenosis", "text/cql-identifier", "a Boolean"),
        (
            'DemoDilation."Has Anal Stenosis" and DemoDilation."Is Adult"',
            "text/cql-expression",
            "a Boolean",
        ),
        ("Target Hegar Size Quantity", "text/cql-identifier", "a Quantity"),
        ("%patient.birthDate.toString() | %patient.gender", "text/fhirpath", "a list of 2"),
    ],
)
def test_a_non_string_result_is_an_issue_and_keeps_the_static_text(
    tmp_path, expression, language, returned
):
    kb = load(tmp_path, dv("action.description", expression, language))
    top, result = professional(kb)
    assert top["description"] == STATIC_DESCRIPTION
    (problem,) = issues_at(result, "action.description")
    assert problem["severity"] == "error" and problem["code"] == "processing"
    assert returned in problem["diagnostics"]
    assert problem["location"] == [
        "PlanDefinition/demo-dilation action professional dynamicValue action.description"
    ]


def test_a_failing_expression_is_an_issue_and_keeps_the_static_text(tmp_path):
    kb = load(
        tmp_path,
        dv("action.description", "Broken Definition"),
        dv("action.title", "%patient.name.given.substring('x')", "text/fhirpath"),
    )
    top, result = professional(kb)
    assert top["description"] == STATIC_DESCRIPTION
    assert top["title"] == STATIC_TITLE
    assert issues_at(result, "action.description")[0]["code"] == "exception"
    assert issues_at(result, "action.title")[0]["code"] == "exception"
    assert [c["id"] for c in top["action"]] == ["professional-referral", "professional-balloon"]


def test_a_computed_title_over_the_summary_limit_keeps_the_static_title(tmp_path):
    long = "x" * (TITLE_MAX + 1)
    kb = load(tmp_path, dv("action.title", f"'{long}'", "text/fhirpath"))
    top, result = professional(kb)
    assert top["title"] == STATIC_TITLE
    (warning,) = issues_at(result, "action.title")
    assert warning["severity"] == "warning" and warning["code"] == "too-long"
    assert TITLE_MAX == 139, "CDS Hooks: summary < 140 characters"


def test_a_computed_title_at_the_limit_is_used(tmp_path):
    fits = "y" * TITLE_MAX
    kb = load(tmp_path, dv("action.title", f"'{fits}'", "text/fhirpath"))
    top, result = professional(kb)
    assert top["title"] == fits and result.issues == []


# -- other dynamicValue paths on a PlanDefinition action: unchanged (not applied) ----------
def test_other_dynamic_value_paths_on_a_plan_action_are_left_alone(tmp_path):
    kb = load(
        tmp_path,
        dv("description", "Target Hegar Note"),
        dv("action.description", "Target Hegar Note"),
    )
    top, result = professional(kb)
    assert top["description"] == "Target Hegar size 17"
    referral = next(r for r in result.resources if r["resourceType"] == "ServiceRequest")
    assert "Target Hegar size" not in json.dumps(referral)
    assert "dynamicValue" not in json.dumps(result.request_group)
    assert result.issues == []


# -- start-up validation ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("dynamic", "set_", "message"),
    [
        (dv("action.prefix", "Target Hegar Note"), {}, "'action.prefix' is not supported"),
        (dv("%action.title.extension", "Target Hegar Note"), {}, "is not supported"),
        ({"path": "action.description"}, {}, "has no expression"),
        (
            {"path": "action.description", "expression": {"language": "text/cql-identifier"}},
            {},
            "expression has no text",
        ),
        (dv("action.description", "No Such Definition"), {}, "No Such Definition"),
        (dv("action.title", "'unterminated", "text/fhirpath"), {}, "does not compile"),
        (
            dv("action.description", "Target Hegar Note"),
            {"description": None},
            "needs a static `description`",
        ),
        (
            dv("action.textEquivalent", "Target Hegar Note"),
            {"textEquivalent": None},
            "needs a static `textEquivalent`",
        ),
    ],
)
def test_an_invalid_action_dynamic_value_stops_start_up_naming_the_action(
    tmp_path, dynamic, set_, message
):
    content, cql = write_content(tmp_path, dynamic, **set_)
    with pytest.raises(
        KnowledgeError, match="PlanDefinition/demo-dilation action professional"
    ) as e:
        load_knowledge(content_dir=content, cql_dir=cql)
    assert message in str(e.value)


def test_two_dynamic_values_for_one_element_stop_start_up(tmp_path):
    content, cql = write_content(
        tmp_path,
        dv("action.description", "Target Hegar Note"),
        dv("%action.description", "%patient.gender", "text/fhirpath"),
    )
    with pytest.raises(KnowledgeError, match="more than one dynamicValue computes description"):
        load_knowledge(content_dir=content, cql_dir=cql)


# -- the faces that show the text ----------------------------------------------------------
def test_the_card_shows_the_computed_summary_and_detail(tmp_path):
    kb = load(
        tmp_path,
        dv("action.title", "'Refer for dilation: target size ' + %patient.gender", "text/fhirpath"),
        dv("action.description", "Target Hegar Note"),
    )
    pd = kb.resolve(PD_URL)
    _, result = professional(kb, "card")
    ctx = CardContext(service_id="svc", patient_id="card", plan_definition=pd)
    response = build_response(result.request_group, result.resources, ctx)
    card = next(c for c in response["cards"] if c["summary"].startswith("Refer for dilation"))
    assert card["summary"] == "Refer for dilation: target size female"
    assert card["detail"].startswith("Target Hegar size 17")


def test_the_fhir_apply_operation_returns_the_computed_text(tmp_path):
    from service.fhirapi import register

    kb = load(tmp_path, dv("action.description", "Target Hegar Note"))
    app = Flask("action-text-test")
    register(app, kb)
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "subject", "valueString": "Patient/http"},
            {"name": "data", "resource": severe_pain_patient("http")},
        ],
    }
    resp = app.test_client().post(
        "/fhir/PlanDefinition/demo-dilation/$apply",
        data=json.dumps(body),
        content_type="application/fhir+json",
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    plan = resp.get_json()
    main = plan["activity"][0]["reference"]["reference"].removeprefix("#")
    rg = next(r for r in plan["contained"] if r["id"] == main)
    top = next(a for a in rg["action"] if a["id"] == "professional")
    assert top["description"] == "Target Hegar size 17"


# -- build-time collection of inline expressions ------------------------------------------
def test_inline_cql_in_action_dynamic_values_is_collected_for_the_generated_library():
    pd = {
        "resourceType": "PlanDefinition",
        "id": "p",
        "library": [f"{BASE}/Library/DemoDilation|1.0.0"],
        "action": [
            {
                "id": "a",
                "title": "t",
                "action": [
                    {
                        "id": "child",
                        "title": "c",
                        "dynamicValue": [
                            dv("action.title", "'Size ' + ToString(1)", "text/cql-expression"),
                            dv("%action.description", "Target Hegar Note"),
                        ],
                    }
                ],
            }
        ],
    }
    uses = collect_uses([pd])["DemoDilation"]
    assert uses.expressions == {
        "'Size ' + ToString(1)": "PlanDefinition/p action child dynamicValue action.title"
    }
    assert "Target Hegar Note" in uses.identifiers
