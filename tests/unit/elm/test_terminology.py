"""Specs for terminology: what can be loaded, what must fail at load time, membership."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.elm import Terminology, TerminologyError
from service.elm.datatypes import Code, Concept

SYS = "http://example.org/cs"


def vs(url: str, **body: object) -> dict:
    return {"resourceType": "ValueSet", "url": url, **body}


def test_expansion_contains_is_used_including_nested_contains() -> None:
    t = Terminology.from_resources(
        [
            vs(
                "urn:vs:a",
                expansion={
                    "contains": [
                        {"system": SYS, "code": "1", "contains": [{"system": SYS, "code": "2"}]}
                    ]
                },
            )
        ]
    )
    exp = t.valueset("urn:vs:a")
    assert exp is not None
    assert exp.contains(Code("2", SYS)) and not exp.contains(Code("3", SYS))


def test_compose_with_enumerated_concepts_and_whole_code_system() -> None:
    cs = {
        "resourceType": "CodeSystem",
        "url": SYS,
        "concept": [{"code": "a", "concept": [{"code": "a1"}]}, {"code": "b"}],
    }
    t = Terminology.from_resources(
        [
            vs(
                "urn:vs:enum",
                compose={
                    "include": [{"system": "http://loinc.org", "concept": [{"code": "1234-5"}]}]
                },
            ),
            vs("urn:vs:all", compose={"include": [{"system": SYS}]}),
            cs,
        ]
    )
    assert t.valueset("urn:vs:enum").contains(Code("1234-5", "http://loinc.org"))
    everything = t.valueset("urn:vs:all")
    assert {c.code for c in everything.codes} == {"a", "a1", "b"}
    assert t.codesystem(SYS).contains(Code("a1", SYS))


def test_membership_accepts_concepts_codings_and_codeable_concepts() -> None:
    t = Terminology.from_resources(
        [vs("urn:vs:x", expansion={"contains": [{"system": SYS, "code": "1"}]})]
    )
    exp = t.valueset("urn:vs:x")
    assert exp.contains(Concept([Code("9", SYS), Code("1", SYS)]))
    assert exp.contains({"coding": [{"system": SYS, "code": "1"}]})
    assert exp.contains({"system": SYS, "code": "1"})
    assert not exp.contains(Code("1", "http://other"))


def test_value_set_imports_resolve_in_any_order() -> None:
    t = Terminology.from_resources(
        [
            vs("urn:vs:outer", compose={"include": [{"valueSet": ["urn:vs:inner"]}]}),
            vs("urn:vs:inner", expansion={"contains": [{"system": SYS, "code": "1"}]}),
        ]
    )
    assert t.valueset("urn:vs:outer").contains(Code("1", SYS))


@pytest.mark.parametrize(
    "body",
    [
        {"compose": {"include": [{"system": SYS, "filter": [{"property": "concept"}]}]}},
        {"compose": {"include": [{"valueSet": ["urn:vs:unknown"]}]}},
        {"compose": {"include": [{"system": "http://not-loaded"}]}},
        {},
    ],
    ids=["filter", "unknown-import", "unknown-codesystem", "empty"],
)
def test_value_sets_the_engine_cannot_expand_fail_at_load_naming_the_value_set(
    body: dict,
) -> None:
    with pytest.raises(TerminologyError, match="urn:vs:bad"):
        Terminology.from_resources([vs("urn:vs:bad", **body)])


def test_from_directory_reads_json_recursively_and_bundles(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.json").write_text(
        json.dumps(vs("urn:vs:a", version="2", expansion={"contains": [{"code": "x"}]}))
    )
    bundle = {
        "resourceType": "Bundle",
        "entry": [{"resource": vs("urn:vs:b", expansion={"contains": []})}],
    }
    (tmp_path / "b.json").write_text(json.dumps(bundle))
    (tmp_path / "other.json").write_text(json.dumps({"resourceType": "PlanDefinition"}))
    t = Terminology.from_directory(tmp_path)
    assert t.valueset_urls == ["urn:vs:a", "urn:vs:b"]
    assert t.valueset("urn:vs:a", "2") is t.valueset("urn:vs:a")


def test_project_terminology_loads(repo_root: Path) -> None:
    t = Terminology.from_directory(repo_root / "plandefinitions")
    assert t.valueset_urls


def test_subsumption_follows_nested_code_system_concepts() -> None:
    t = Terminology.from_resources(
        [
            {
                "resourceType": "CodeSystem",
                "url": SYS,
                "concept": [{"code": "a", "concept": [{"code": "a1", "concept": [{"code": "x"}]}]}],
            }
        ]
    )
    assert t.subsumes(SYS, "a", "x") is True
    assert t.subsumes(SYS, "a1", "a") is False
    assert t.subsumes("http://unknown", "a", "x") is None


def test_subsumes_operator_uses_the_engine_terminology() -> None:
    from service.elm import ElmEngine

    def code(c: str) -> dict:
        return {"type": "Code", "code": c, "system": {"name": "CS"}}

    elm = {
        "library": {
            "identifier": {"id": "Sub"},
            "codeSystems": {"def": [{"name": "CS", "id": SYS}]},
            "statements": {
                "def": [
                    {
                        "name": "Yes",
                        "expression": {"type": "Subsumes", "operand": [code("a"), code("x")]},
                    },
                    {
                        "name": "No",
                        "expression": {"type": "SubsumedBy", "operand": [code("a"), code("x")]},
                    },
                ]
            },
        }
    }
    cs = {
        "resourceType": "CodeSystem",
        "url": SYS,
        "concept": [{"code": "a", "concept": [{"code": "x"}]}],
    }
    engine = ElmEngine.from_libraries([elm], terminology=Terminology.from_resources([cs]))
    assert engine.evaluate("Sub") == {"Yes": True, "No": False}
