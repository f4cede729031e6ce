"""The guideline CQL: one definition per row and outcome, documented parameters, the Hegar table."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from tests.content.content import CQL_DIR, ELM_DIR, definitions, elm_libraries
from tests.scenarios.loader import materialise

RECOMMENDATIONS = "AnalDilationRecommendations"
GUIDELINE_CQL = sorted(p for p in CQL_DIR.glob("AnalDilation*.cql"))
OUTCOMES = {
    "Escalation Reasons",
    "Escalation Indicated",
    "Specialty Reasons",
    "Specialty Only",
    "Professional Reasons",
    "Professional Dilation Indicated",
    "Home Program Fits",
    "Home Program Contraindicated",
    "Home Program Contraindication Reasons",
}
#: Parameters supplied per request (no default by design).
REQUEST_PARAMETERS = {"Selections"}


def test_every_row_has_criteria_applicability_and_evidence_definitions():
    names = definitions(RECOMMENDATIONS)
    for n in range(1, 18):
        row = {name for name in names if re.match(rf"R{n} ", name)}
        assert f"R{n} Recommendation Applies" in row
        assert f"R{n} Evidence" in row
        criteria = row - {f"R{n} Recommendation Applies", f"R{n} Evidence"}
        assert criteria, f"R{n} has no criteria definition"


def test_every_outcome_has_its_own_definition():
    assert definitions(RECOMMENDATIONS) >= OUTCOMES


@pytest.mark.parametrize("path", GUIDELINE_CQL, ids=[p.name for p in GUIDELINE_CQL])
def test_every_threshold_parameter_has_a_default_and_a_comment_above_it(path):
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        m = re.match(r'parameter "([^"]+)"', line)
        if not m:
            continue
        if m.group(1) in REQUEST_PARAMETERS:
            continue
        assert " default " in line, f"{path.name}: {m.group(1)} has no default"
        j = i - 1
        while lines[j].startswith("parameter "):  # a pair documented by one comment
            j -= 1
        assert lines[j].rstrip().endswith("*/"), f"{path.name}: {m.group(1)} is undocumented"


def test_the_committed_elm_has_every_guideline_library():
    assert {p.stem for p in GUIDELINE_CQL} <= set(elm_libraries())


# The Cincinnati table (clinical brief §3), in months of age -> target Hegar size.
HEGAR_BY_AGE = [
    ("0mo", None),
    ("1mo", 12),
    ("3mo", 12),
    ("4mo", 13),
    ("7mo", 13),
    ("8mo", 14),
    ("11mo", 14),
    ("1y", 15),
    ("2y", 15),
    ("3y", 16),
    ("12y", 16),
    ("13y", 17),
    ("30y", 17),
]
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def patient_of_age(age: str) -> dict:
    birth = materialise(f"@today-{age}", NOW)
    patient = {"resourceType": "Patient", "id": f"age-{age}", "birthDate": birth}
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": patient}]}


@pytest.mark.oracle
@pytest.mark.parametrize("engine", ["reference", "ours"])
def test_target_hegar_size_follows_the_age_table(oracle, engine):
    run = oracle.evaluate if engine == "reference" else oracle.ours
    rows = run(
        ELM_DIR,
        RECOMMENDATIONS,
        [patient_of_age(age) for age, _ in HEGAR_BY_AGE],
        now=NOW,
        expressions=["Pediatric Target Hegar Size"],
    )
    got = [row["Pediatric Target Hegar Size"] for row in rows]
    assert got == [size for _, size in HEGAR_BY_AGE]
