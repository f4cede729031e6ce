"""The generated CQL library of inline `text/cql-expression`s must match the content."""

from __future__ import annotations

import json

from service.knowledge.expression_names import expression_name
from tests.apply.fixture_kb import FIXTURE, ROOT, assemble
from tools.expressions import collect_uses, generate, render, stale_files


def test_the_committed_fixture_expressions_library_is_up_to_date():
    assert stale_files(FIXTURE / "plandefinitions", FIXTURE / "cql") == []


def test_the_committed_content_expressions_libraries_are_up_to_date():
    assert stale_files(ROOT / "plandefinitions", ROOT / "cql") == []


def test_a_changed_inline_expression_makes_the_generated_library_stale(tmp_path):
    content, cql = assemble(tmp_path)
    path = content / "PlanDefinition-demo-dilation.json"
    pd = json.loads(path.read_text())
    pd["action"][2]["condition"][0]["expression"]["expression"] = 'DemoDilation."Is Adult"'
    path.write_text(json.dumps(pd))
    assert stale_files(content, cql)


def test_the_generated_library_passes_identifiers_through_and_names_expressions_by_hash():
    resources = [json.loads(p.read_text()) for p in (FIXTURE / "plandefinitions").glob("*.json")]
    uses = collect_uses(resources)["DemoDilation"]
    assert "Recommend Home" in uses.identifiers
    text = render("DemoDilation", "1.0.0", uses)
    assert "include DemoDilation version '1.0.0' called DemoDilation" in text
    assert 'define "Recommend Home":\n  DemoDilation."Recommend Home"' in text
    expr = 'DemoDilation."Has Anal Stenosis" and DemoDilation."Is Adult"'
    assert f'define "{expression_name(expr)}":\n  {expr}' in text


def test_generation_is_deterministic():
    a = generate(FIXTURE / "plandefinitions", FIXTURE / "cql")
    b = generate(FIXTURE / "plandefinitions", FIXTURE / "cql")
    assert a == b and len(a) == 1
