"""`remove` actions (docs/content-conventions.md): a child action of action-type `remove` whose
`target-expression` returns existing resources becomes a RequestGroup action with one sub-action
per resource to remove; the definition must exist at start-up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.apply import apply_plan_definition, load_knowledge
from service.apply.prepare import prepared_plan
from service.knowledge import KnowledgeBase, KnowledgeError
from tests.apply.fixture_kb import BASE, NOW, assemble, healthy_patient, severe_pain_patient

PD_FILE = "PlanDefinition-demo-dilation.json"
TARGET_URL = f"{BASE}/StructureDefinition/target-expression"
REMOVE = {
    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/action-type", "code": "remove"}]
}


def remove_child(expression: str = "Professional Evidence", language="text/cql-identifier"):
    return {
        "id": "professional-remove",
        "title": "Remove the evidence",
        "type": REMOVE,
        "extension": [
            {"url": TARGET_URL, "valueExpression": {"language": language, "expression": expression}}
        ],
    }


def with_child(tmp_path: Path, child: dict, parent: str = "professional") -> tuple[Path, Path]:
    content, cql = assemble(tmp_path)
    path = content / PD_FILE
    pd = json.loads(path.read_text())
    next(a for a in pd["action"] if a["id"] == parent).setdefault("action", []).append(child)
    path.write_text(json.dumps(pd), encoding="utf-8")
    return content, cql


def load(tmp_path: Path, child: dict, parent: str = "professional") -> KnowledgeBase:
    content, cql = with_child(tmp_path, child, parent)
    return load_knowledge(content_dir=content, cql_dir=cql)


def professional(kb: KnowledgeBase, pid: str) -> tuple[dict, object]:
    pd = kb.resolve(f"{BASE}/PlanDefinition/demo-dilation")
    result = apply_plan_definition(
        kb, pd, subject=f"Patient/{pid}", data=severe_pain_patient(pid), now=NOW,
        trigger="patient-view",
    )  # fmt: skip
    top = next(a for a in result.request_group["action"] if a["id"] == "professional")
    return top, result


def test_a_remove_child_names_each_target_resource_in_its_own_sub_action(tmp_path):
    kb = load(tmp_path, remove_child())
    top, result = professional(kb, "rm1")
    remove = next(a for a in top["action"] if a["id"] == "professional-remove")
    evidence = [e["valueReference"]["reference"] for e in top["extension"] if "valueReference" in e]
    assert remove["type"] == REMOVE and remove["title"] == "Remove the evidence"
    assert [s["resource"]["reference"] for s in remove["action"]] == evidence
    assert [s["id"] for s in remove["action"]] == [
        f"professional-remove-{n}" for n in range(1, len(evidence) + 1)
    ]
    assert all(s["type"] == REMOVE for s in remove["action"])
    assert "extension" not in remove  # the target-expression instructs $apply; not copied
    assert not result.issues
    # the target resources exist already: nothing new is proposed for them
    assert {f"{r['resourceType']}/{r['id']}" for r in result.resources}.isdisjoint(evidence)


def test_a_remove_child_with_nothing_to_remove_is_left_out(tmp_path):
    kb = load(tmp_path, remove_child("{}", "text/fhirpath"))
    top, _ = professional(kb, "rm2")
    assert "professional-remove" not in [a["id"] for a in top["action"]]
    assert [a["id"] for a in top["action"]] == ["professional-referral", "professional-balloon"]


def test_the_target_definition_is_evaluated_in_the_single_engine_call(tmp_path, engine_calls):
    # "Home Evidence" is otherwise needed only by patient-view/order-select actions; here it is
    # the target of a remove child of the order-sign action "adult-stenosis".
    kb = load(tmp_path, remove_child("Home Evidence"), parent="adult-stenosis")
    pd = kb.resolve(f"{BASE}/PlanDefinition/demo-dilation")
    needs = prepared_plan(kb, pd).cql_needs("order-sign")
    assert any("Home Evidence" in defs for defs in needs.values())
    calls = engine_calls(kb)
    apply_plan_definition(
        kb, pd, subject="Patient/rm4", data=severe_pain_patient("rm4"), now=NOW,
        trigger="order-sign",
    )  # fmt: skip
    assert calls and "Home Evidence" in calls[0][1]


@pytest.mark.parametrize(
    ("child", "message"),
    [
        (remove_child("No Such Orders"), "No Such Orders"),
        ({**remove_child(), "extension": []}, "target-expression"),
        ({**remove_child(), "type": None}, "type remove"),
        (
            {**remove_child(), "definitionCanonical": f"{BASE}/ActivityDefinition/demo-referral"},
            "no definitionCanonical",
        ),
    ],
    ids=["unknown-definition", "remove-without-target", "target-without-remove", "with-definition"],
)
def test_an_inconsistent_remove_action_stops_the_start_up(tmp_path, child, message):
    child = {k: v for k, v in child.items() if v is not None}
    content, cql = with_child(tmp_path, child)
    with pytest.raises(KnowledgeError, match=message):
        load_knowledge(content_dir=content, cql_dir=cql)


def test_a_patient_the_parent_does_not_apply_to_gets_no_remove_action(tmp_path):
    kb = load(tmp_path, remove_child())
    pd = kb.resolve(f"{BASE}/PlanDefinition/demo-dilation")
    result = apply_plan_definition(
        kb, pd, subject="Patient/rm3", data=healthy_patient("rm3"), now=NOW, trigger="patient-view"
    )
    assert "professional" not in [a.get("id") for a in result.request_group.get("action", [])]
