"""ValueSets hold only verified standard codes or our own local codes, each with its display."""

from __future__ import annotations

import pytest

from tests.content.content import (
    CONTENT_DIR,
    LOCAL_SYSTEM,
    artifacts,
    elm_libraries,
    local_codes,
    of_type,
    walk,
)
from tests.content.verified_codes import CPT, NEVER, VERIFIED

VALUE_SETS = of_type("ValueSet")


def composed(vs):
    return [(inc["system"], c["code"], c.get("display")) for inc in vs["compose"]["include"]
            for c in inc["concept"]]  # fmt: skip


@pytest.mark.parametrize("vs", VALUE_SETS, ids=[v["id"] for v in VALUE_SETS])
def test_value_set_codes_are_verified_or_local_and_carry_a_display(vs):
    for system, code, display in composed(vs):
        assert display, f"{vs['id']}: {system}|{code} has no display"
        if system == LOCAL_SYSTEM:
            assert code in local_codes(), f"{vs['id']}: {code} is not in our CodeSystem"
        else:
            assert code in VERIFIED.get(system, ()), f"{vs['id']}: {system}|{code} is not verified"
            assert code not in NEVER.get(system, ())


@pytest.mark.parametrize("vs", VALUE_SETS, ids=[v["id"] for v in VALUE_SETS])
def test_value_set_expansion_lists_exactly_the_composed_codes(vs):
    contains = [(c["system"], c["code"], c["display"]) for c in vs["expansion"]["contains"]]
    assert contains == composed(vs)
    assert vs["expansion"]["total"] == len(contains)


def test_cpt_displays_are_neutral_labels_of_ours_naming_the_code():
    for vs in VALUE_SETS:
        for system, code, display in composed(vs):
            if system == CPT:
                assert display.endswith(f"(CPT {code})"), display


def test_local_code_system_is_complete_with_unique_defined_concepts():
    (cs,) = of_type("CodeSystem")
    assert cs["url"] == LOCAL_SYSTEM and cs["content"] == "complete"
    codes = [c["code"] for c in cs["concept"]]
    assert len(codes) == len(set(codes)) == cs["count"]
    assert all(c["display"] and c["definition"] for c in cs["concept"])


def test_every_local_code_used_anywhere_exists_in_the_code_system():
    """Across artifacts, CQL code declarations and the scenarios' patient data."""
    import json

    from tests.scenarios.loader import CASES_DIR

    documents = [r for _, r in artifacts()]
    documents += [json.loads(p.read_text()) for p in sorted(CASES_DIR.glob("*.json"))]
    used = {
        node["code"]
        for doc in documents
        for _, node in walk(doc)
        if node.get("system") == LOCAL_SYSTEM and "code" in node
    }
    for library in elm_libraries().values():
        systems = {c["name"]: c["id"] for c in library.get("codeSystems", {}).get("def", [])}
        for code in library.get("codes", {}).get("def", []):
            if systems.get(code["codeSystem"]["name"]) == LOCAL_SYSTEM:
                used.add(code["id"])
    assert used and used <= local_codes(), sorted(used - local_codes())


def test_standard_codes_in_activity_definitions_are_verified():
    for ad in of_type("ActivityDefinition"):
        for coding in ad["code"]["coding"]:
            if coding["system"] != LOCAL_SYSTEM:
                assert coding["code"] in VERIFIED[coding["system"]], (ad["id"], coding)


def test_terminology_lives_in_one_folder():
    folders = {p.parent for p, r in artifacts() if r["resourceType"] in ("ValueSet", "CodeSystem")}
    assert folders == {CONTENT_DIR / "terminology"}
