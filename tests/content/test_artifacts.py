"""Every knowledge artifact is valid FHIR, canonically addressed and resolvable in the content."""

from __future__ import annotations

import pytest
from fhir.resources.R4B import get_fhir_model_class

from tests.content.content import (
    BASE,
    artifacts,
    definitions,
    elm_libraries,
    library_name,
    of_type,
    walk,
)

KNOWN_TYPES = {"PlanDefinition", "ActivityDefinition", "ValueSet", "CodeSystem"}
FOLDERS = {
    "PlanDefinition": "plandefinitions",
    "ActivityDefinition": "activitydefinitions",
    "ValueSet": "terminology",
    "CodeSystem": "terminology",
}
IDENTIFIER = "text/cql-identifier"


def ids():
    return [p.name for p, _ in artifacts()]


@pytest.mark.parametrize("name", ids())
def test_every_artifact_parses_as_a_fhir_r4b_resource(name):
    resource = next(r for p, r in artifacts() if p.name == name)
    try:
        model = get_fhir_model_class(resource["resourceType"])
    except KeyError:
        pytest.fail(f"{name}: unknown resource type {resource.get('resourceType')}")
    model.model_validate(resource)


def test_content_holds_only_the_four_knowledge_types_in_their_folders():
    for path, resource in artifacts():
        assert resource["resourceType"] in KNOWN_TYPES, path
        assert path.parent.name == FOLDERS[resource["resourceType"]], path
        assert path.name == f"{resource['resourceType']}-{resource['id']}.json", path


def test_canonical_urls_follow_the_base_and_are_unique():
    urls = [r["url"] for _, r in artifacts()]
    assert len(urls) == len(set(urls))
    for _, r in artifacts():
        assert r["url"] == f"{BASE}/{r['resourceType']}/{r['id']}"
        assert r["version"] == "1.0.0" and r["status"] == "active"


def test_every_library_canonical_names_a_translated_cql_library():
    for _, r in artifacts():
        for canonical in r.get("library", []):
            assert library_name(canonical) in elm_libraries(), f"{r['id']}: {canonical}"


def test_every_definition_canonical_resolves_to_an_activity_definition_in_the_content():
    activity_urls = {a["url"] for a in of_type("ActivityDefinition")}
    for plan in of_type("PlanDefinition"):
        for path, node in walk(plan["action"]):
            if "definitionCanonical" in node:
                assert node["definitionCanonical"] in activity_urls, f"{plan['id']} {path}"


def test_every_activity_definition_is_suggested_by_some_card():
    used = {
        node["definitionCanonical"]
        for plan in of_type("PlanDefinition")
        for _, node in walk(plan["action"])
        if "definitionCanonical" in node
    }
    unused = {a["url"] for a in of_type("ActivityDefinition")} - used
    assert not unused


def test_every_cql_identifier_names_a_definition_of_the_artifacts_library():
    checked = 0
    for _, r in artifacts():
        libraries = [library_name(c) for c in r.get("library", [])]
        for path, node in walk(r):
            if node.get("language") == IDENTIFIER:
                known = set().union(*(definitions(lib) for lib in libraries))
                assert node["expression"] in known, f"{r['id']} {path}: {node['expression']}"
                checked += 1
    assert checked > 40


def test_every_value_set_the_cql_declares_exists_in_the_content():
    value_sets = {v["url"] for v in of_type("ValueSet")}
    for name, library in elm_libraries().items():
        for vs in library.get("valueSets", {}).get("def", []):
            assert vs["id"] in value_sets, f"{name}: {vs['name']} {vs['id']}"


def test_every_code_system_the_cql_declares_under_our_base_exists_in_the_content():
    systems = {c["url"] for c in of_type("CodeSystem")}
    for library in elm_libraries().values():
        for cs in library.get("codeSystems", {}).get("def", []):
            if cs["id"].startswith(BASE):
                assert cs["id"] in systems
