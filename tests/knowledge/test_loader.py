"""Loading the knowledge base: validation at start-up, the canonical index, search."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from service.apply import load_knowledge
from service.knowledge import KnowledgeError
from service.knowledge.loader import ArtifactIndex, r4_guard, validate_r4
from tests.apply.fixture_kb import BASE, assemble


@pytest.fixture
def tree(tmp_path) -> tuple[Path, Path]:
    return assemble(tmp_path)


def write(path: Path, resource: dict) -> None:
    path.write_text(json.dumps(resource), encoding="utf-8")


def edit(path: Path, change) -> None:
    resource = json.loads(path.read_text())
    change(resource)
    write(path, resource)


def test_every_artifact_is_indexed_by_type_id_and_canonical(kb):
    pd = kb.resolve("PlanDefinition/demo-dilation")
    assert pd is kb.resolve(f"{BASE}/PlanDefinition/demo-dilation")
    assert pd is kb.resolve(f"{BASE}/PlanDefinition/demo-dilation|1.0.0")
    assert kb.resolve(f"{BASE}/PlanDefinition/demo-dilation|9.9.9") is None
    assert kb.resolve("PlanDefinition/unknown") is None
    assert [p["id"] for p in kb.plan_definitions] == ["demo-dilation", "demo-nested"]


def test_libraries_are_generated_from_the_cql_and_indexed(kb):
    lib = kb.resolve(f"{BASE}/Library/DemoDilation|1.0.0")
    assert lib["resourceType"] == "Library" and lib["id"] == "DemoDilation"
    assert kb.resolve("Library/FHIRHelpers")["version"] == "4.0.1"


def test_an_unversioned_canonical_resolves_to_the_newest_version():
    index = ArtifactIndex()
    for v in ("1.2.0", "1.10.0", "1.9.3"):
        index.add({"resourceType": "ValueSet", "id": f"v{v}", "url": "u", "version": v}, v)
    assert index.resolve("u")["version"] == "1.10.0"


def test_search_matches_url_version_status_id_and_name_prefixes(kb):
    assert [r["id"] for r in kb.search("ValueSet", {"name": ["demoanal"]})] == [
        "demo-anal-stenosis"
    ]
    assert kb.search("ValueSet", {"name:exact": ["demoanal"]}) == []
    assert len(kb.search("ValueSet", {"status": ["active,draft"]})) == 2
    assert [r["id"] for r in kb.search("ValueSet", {"status": ["draft"]})] == ["demo-devices"]
    url = f"{BASE}/ActivityDefinition/demo-balloon"
    assert [r["id"] for r in kb.search("ActivityDefinition", {"url": [url]})] == ["demo-balloon"]
    assert kb.search("ActivityDefinition", {"url": [url], "version": ["2.0.0"]}) == []
    assert [r["id"] for r in kb.search("CodeSystem", {"_id": ["demo-local"]})] == ["demo-local"]
    assert [r["id"] for r in kb.search("Library", {"title": ["demo"]})] == [
        "DemoDilation",
        "DemoDilationExpressions",
    ]


def test_an_invalid_artifact_stops_the_start_up_naming_the_file(tree):
    content, cql = tree
    edit(content / "ValueSet-demo-devices.json", lambda r: r.update(status=["not", "a", "code"]))
    with pytest.raises(KnowledgeError, match=r"ValueSet-demo-devices\.json"):
        load_knowledge(content_dir=content, cql_dir=cql)


def test_unreadable_json_stops_the_start_up(tree):
    content, cql = tree
    (content / "broken.json").write_text("{not json")
    with pytest.raises(KnowledgeError, match=r"broken\.json"):
        load_knowledge(content_dir=content, cql_dir=cql)


def test_the_r4_guard_rejects_subject_canonical_that_r4b_would_accept():
    pd = {
        "resourceType": "PlanDefinition",
        "status": "draft",
        "action": [{"id": "a", "subjectCanonical": "http://x"}],
    }
    assert any("subjectCanonical" in p for p in r4_guard(pd))
    with pytest.raises(KnowledgeError, match="R4"):
        validate_r4(pd, "inline")


def test_the_r4_guard_rejects_r5_only_extension_value_types():
    ext = {"url": "http://x", "valueCodeableReference": {"concept": {"text": "x"}}}
    vs = {"resourceType": "ValueSet", "status": "draft", "extension": [ext]}
    assert list(r4_guard(vs))


def test_a_dangling_definition_canonical_stops_the_start_up(tree):
    content, cql = tree
    (content / "ActivityDefinition-demo-balloon.json").unlink()
    with pytest.raises(KnowledgeError, match="demo-balloon"):
        load_knowledge(content_dir=content, cql_dir=cql)


def test_a_condition_naming_a_missing_cql_definition_stops_the_start_up(tree):
    content, cql = tree

    def rename(pd):
        pd["action"][0]["condition"][0]["expression"]["expression"] = "No Such Definition"

    edit(content / "PlanDefinition-demo-dilation.json", rename)
    with pytest.raises(KnowledgeError, match="No Such Definition"):
        load_knowledge(content_dir=content, cql_dir=cql)


def test_a_fhirpath_condition_that_does_not_compile_stops_the_start_up(tree):
    content, cql = tree

    def breakit(pd):
        pd["action"][1]["action"][2]["condition"][0]["expression"]["expression"] = "'unterminated"

    edit(content / "PlanDefinition-demo-dilation.json", breakit)
    with pytest.raises(KnowledgeError, match="FHIRPath"):
        load_knowledge(content_dir=content, cql_dir=cql)


def test_a_hand_written_library_is_refused(tree):
    content, cql = tree
    write(
        content / "Library-x.json",
        {"resourceType": "Library", "id": "x", "status": "draft", "type": {"text": "logic"}},
    )
    with pytest.raises(KnowledgeError, match="generated"):
        load_knowledge(content_dir=content, cql_dir=cql)


def test_duplicate_canonicals_are_refused(tree):
    content, cql = tree
    shutil.copy(content / "ValueSet-demo-devices.json", content / "copy.json")
    edit(content / "copy.json", lambda r: r.update(id="other"))
    with pytest.raises(KnowledgeError, match="duplicate canonical"):
        load_knowledge(content_dir=content, cql_dir=cql)


def test_missing_elm_for_a_cql_library_is_refused(tree):
    content, cql = tree
    (cql / "elm" / "DemoDilation.json").unlink()
    with pytest.raises(KnowledgeError, match="make elm"):
        load_knowledge(content_dir=content, cql_dir=cql)


def test_a_dynamic_value_path_the_resource_type_lacks_stops_the_start_up(tree):
    content, cql = tree

    def typo(ad):
        ad["dynamicValue"][0]["path"] = "quantityQuantty"

    edit(content / "ActivityDefinition-demo-home-program.json", typo)
    with pytest.raises(KnowledgeError, match="quantityQuantty"):
        load_knowledge(content_dir=content, cql_dir=cql)


def test_a_value_set_the_cql_names_but_the_content_lacks_stops_the_start_up(tree):
    content, cql = tree
    (content / "ValueSet-demo-anal-stenosis.json").unlink()
    with pytest.raises(KnowledgeError, match="demo-anal-stenosis"):
        load_knowledge(content_dir=content, cql_dir=cql)
