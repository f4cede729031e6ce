"""Specs for the coding normalisation of incoming patient data (service/elm/fhir/codings.py):
each rule with a positive case and a near miss, copy-on-write, and that retrieves, `in` tests on
FHIRHelpers conversions and `~` on Condition statuses all see the canonical codes."""

from __future__ import annotations

import copy
import datetime as dt

import pytest

from service.elm import PatientData, Terminology
from service.elm.fhir.codings import (
    CONDITION_CLINICAL,
    CONDITION_VER_STATUS,
    ICD10,
    ICD10CM,
    LOINC,
    SNOMED,
    normalize_bundle,
    normalize_coding,
    normalize_resource,
)

from .conftest import engine_for

# (case, coding as recorded, coding as evaluated; None = unchanged)
CODING_CASES = [
    # ICD-10-CM code form
    ("icd10cm dotless", {"system": ICD10CM, "code": "K625"}, {"system": ICD10CM, "code": "K62.5"}),
    (
        "icd10cm lower case",
        {"system": ICD10CM, "code": "k62.5"},
        {"system": ICD10CM, "code": "K62.5"},
    ),
    (
        "icd10cm lower dotless",
        {"system": ICD10CM, "code": "k625"},
        {"system": ICD10CM, "code": "K62.5"},
    ),
    (
        "icd10cm spaces",
        {"system": ICD10CM, "code": " K62.5 "},
        {"system": ICD10CM, "code": "K62.5"},
    ),
    (
        "icd10cm 7 chars",
        {"system": ICD10CM, "code": "S0100XA"},
        {"system": ICD10CM, "code": "S01.00XA"},
    ),
    ("icd10 who dotless", {"system": ICD10, "code": "K625"}, {"system": ICD10, "code": "K62.5"}),
    ("near miss: 3-char category", {"system": ICD10CM, "code": "K62"}, None),
    ("near miss: canonical", {"system": ICD10CM, "code": "K62.5"}, None),
    ("near miss: not ICD-shaped", {"system": ICD10CM, "code": "12063002"}, None),
    ("near miss: too long", {"system": ICD10CM, "code": "K62512345"}, None),
    ("near miss: blank", {"system": ICD10CM, "code": "  "}, None),
    # other systems: only trimming, never an ICD form
    (
        "snomed spaces",
        {"system": SNOMED, "code": " 12063002"},
        {"system": SNOMED, "code": "12063002"},
    ),
    ("loinc spaces", {"system": LOINC, "code": "72514-3 "}, {"system": LOINC, "code": "72514-3"}),
    ("near miss: K625 under SNOMED", {"system": SNOMED, "code": "K625"}, None),
    ("near miss: lower case LOINC", {"system": LOINC, "code": "la6111-4"}, None),
    ("near miss: unknown system", {"system": "http://example.org/cs", "code": " k625 "}, None),
    ("near miss: no system", {"code": "K625"}, None),
    # system aliases (urn:oid: form only)
    (
        "icd10cm oid",
        {"system": "urn:oid:2.16.840.1.113883.6.90", "code": "K625", "display": "Hemorrhage"},
        {"system": ICD10CM, "code": "K62.5", "display": "Hemorrhage"},
    ),
    (
        "icd10 oid",
        {"system": "urn:oid:2.16.840.1.113883.6.3", "code": "K62.5"},
        {"system": ICD10, "code": "K62.5"},
    ),
    (
        "snomed oid",
        {"system": "urn:oid:2.16.840.1.113883.6.96", "code": "12063002"},
        {"system": SNOMED, "code": "12063002"},
    ),
    (
        "loinc oid",
        {"system": "urn:oid:2.16.840.1.113883.6.1", "code": "72514-3"},
        {"system": LOINC, "code": "72514-3"},
    ),
    ("near miss: bare oid", {"system": "2.16.840.1.113883.6.90", "code": "K62.5"}, None),
    ("near miss: other oid", {"system": "urn:oid:2.16.840.1.113883.6.8", "code": "mm"}, None),
    (
        "near miss: oid prefix only",
        {"system": "urn:oid:2.16.840.1.113883.6.900", "code": "K625"},
        None,
    ),
    ("near miss: not a string", {"system": ["x"], "code": "K625"}, None),
]


@pytest.mark.parametrize(
    ("recorded", "expected"), [c[1:] for c in CODING_CASES], ids=[c[0] for c in CODING_CASES]
)
def test_coding_rules(recorded: dict, expected: dict | None) -> None:
    before = copy.deepcopy(recorded)
    assert normalize_coding(recorded) == expected
    assert recorded == before  # never in place


def condition(clinical: dict | None = None, verification: dict | None = None, **extra) -> dict:
    r = {
        "resourceType": "Condition",
        "id": "c",
        "code": {"coding": [{"system": ICD10CM, "code": "K62.5"}]},
    }
    if clinical is not None:
        r["clinicalStatus"] = {"coding": [clinical]}
    if verification is not None:
        r["verificationStatus"] = {"coding": [verification]}
    return r | extra


# (case, resource as recorded, path to a coding, that coding as evaluated; None = unchanged)
BINDING_CASES = [
    (
        "clinical status without system",
        condition({"code": "active"}),
        ("clinicalStatus",),
        {"system": CONDITION_CLINICAL, "code": "active"},
    ),
    (
        "resolved without system",
        condition({"code": "resolved"}),
        ("clinicalStatus",),
        {"system": CONDITION_CLINICAL, "code": "resolved"},
    ),
    (
        "verification without system",
        condition(None, {"code": "refuted"}),
        ("verificationStatus",),
        {"system": CONDITION_VER_STATUS, "code": "refuted"},
    ),
    (
        "clinical status with a null system",
        condition({"system": None, "code": "active"}),
        ("clinicalStatus",),
        {"system": CONDITION_CLINICAL, "code": "active"},
    ),
    (
        "near miss: system already set",
        condition({"system": "http://example.org/status", "code": "active"}),
        ("clinicalStatus",),
        None,
    ),
    (
        "near miss: not a code of the system",
        condition({"code": "Active"}),
        ("clinicalStatus",),
        None,
    ),
    (
        "near miss: verification code in clinicalStatus",
        condition({"code": "refuted"}),
        ("clinicalStatus",),
        None,
    ),
    (
        "near miss: clinical code in verificationStatus",
        condition(None, {"code": "active"}),
        ("verificationStatus",),
        None,
    ),
    (
        "near miss: another element",
        condition(severity={"coding": [{"code": "active"}]}),
        ("severity",),
        None,
    ),
    (
        "near miss: another resource type",
        {
            "resourceType": "AllergyIntolerance",
            "id": "a",
            "clinicalStatus": {"coding": [{"code": "active"}]},
        },
        ("clinicalStatus",),
        None,
    ),
]


@pytest.mark.parametrize(
    ("recorded", "path", "expected"),
    [c[1:] for c in BINDING_CASES],
    ids=[c[0] for c in BINDING_CASES],
)
def test_required_binding_fill(recorded: dict, path: tuple, expected: dict | None) -> None:
    before = copy.deepcopy(recorded)
    out = normalize_resource(recorded)
    assert recorded == before
    if expected is None:
        assert out is recorded
    else:
        element = out
        for step in path:
            element = element[step]
        assert element["coding"][0] == expected


def test_codings_everywhere_the_model_has_them_and_nowhere_else() -> None:
    oid = "urn:oid:2.16.840.1.113883.6.96"
    obs = {
        "resourceType": "Observation",
        "id": "o",
        "code": {
            "coding": [{"system": "urn:oid:2.16.840.1.113883.6.1", "code": "72514-3"}],
            "text": "Pain",
        },
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "valueCodeableConcept": {"coding": [{"system": oid, "code": "1"}]},
        "component": [{"code": {"coding": [{"system": oid, "code": "2"}]}, "valueInteger": 3}],
        "contained": [
            {
                "resourceType": "Condition",
                "id": "x",
                "code": {"coding": [{"system": ICD10CM, "code": "k625"}]},
            }
        ],
        # not visited: extensions, identifiers, meta, quantities (UCUM system + code)
        "extension": [{"url": "http://example.org/x", "valueCoding": {"system": oid, "code": "9"}}],
        "identifier": [{"type": {"coding": [{"system": oid, "code": "8"}]}, "value": "1"}],
        "meta": {"tag": [{"system": oid, "code": "7"}]},
        "valueQuantity": {"value": 1, "system": "http://unitsofmeasure.org", "code": "mm"},
    }
    before = copy.deepcopy(obs)
    out = normalize_resource(obs)
    assert obs == before
    assert out["code"] == {"coding": [{"system": LOINC, "code": "72514-3"}], "text": "Pain"}
    assert out["valueCodeableConcept"]["coding"][0]["system"] == SNOMED
    assert out["component"][0]["code"]["coding"][0]["system"] == SNOMED
    assert out["contained"][0]["code"]["coding"][0]["code"] == "K62.5"
    for untouched in ("category", "extension", "identifier", "meta", "valueQuantity", "id"):
        assert out[untouched] is obs[untouched]


def test_copy_on_write_shares_what_did_not_change() -> None:
    canonical = condition({"system": CONDITION_CLINICAL, "code": "active"})
    assert normalize_resource(canonical) is canonical
    dotless = condition(
        code={
            "coding": [{"system": ICD10CM, "code": "K625"}, {"system": SNOMED, "code": "12063002"}]
        },
        note=[{"text": "x"}],
    )
    out = normalize_resource(dotless)
    assert out is not dotless and out["code"] is not dotless["code"]
    assert out["code"]["coding"][1] is dotless["code"]["coding"][1]
    assert out["note"] is dotless["note"]
    assert normalize_resource(out) is out  # idempotent


def test_odd_shapes_are_left_alone() -> None:
    for odd in (
        None,
        "Condition",
        [],
        {"resourceType": "NotAType", "code": {"coding": [{"system": ICD10CM, "code": "K625"}]}},
        {"resourceType": ["Condition"]},
        condition(code="K625"),
        condition(code={"coding": "K625"}),
        condition(code={"coding": [None, "K625", {"system": ICD10CM}]}),
    ):
        assert normalize_resource(odd) is odd


def test_bundles_are_normalised_entry_by_entry() -> None:
    dotless = condition(code={"coding": [{"system": ICD10CM, "code": "K625"}]})
    clean = {"resourceType": "Patient", "id": "p"}
    bundle = {
        "resourceType": "Bundle",
        "entry": [{"resource": clean}, {"fullUrl": "urn:uuid:c", "resource": dotless}],
    }
    before = copy.deepcopy(bundle)
    out = normalize_bundle(bundle)
    assert bundle == before
    assert out["entry"][0] is bundle["entry"][0]
    assert out["entry"][1]["fullUrl"] == "urn:uuid:c"
    assert out["entry"][1]["resource"]["code"]["coding"][0]["code"] == "K62.5"
    clean_bundle = {"resourceType": "Bundle", "entry": [{"resource": clean}]}
    assert normalize_bundle(clean_bundle) is clean_bundle


def test_patient_data_indexes_the_canonical_codes_and_leaves_the_request_untouched() -> None:
    dotless = condition(
        code={"coding": [{"system": "urn:oid:2.16.840.1.113883.6.90", "code": "k625"}]}
    )
    resources = [{"resourceType": "Patient", "id": "p"}, dotless]
    before = copy.deepcopy(resources)
    data = PatientData.from_any(resources)
    assert resources == before
    assert data.patient is resources[0]
    (seen,) = data.resources("Condition")
    assert seen["code"]["coding"][0] == {"system": ICD10CM, "code": "K62.5"}
    assert seen["id"] == "c"


LIB = """
library CodingSpec version '1.0'
using FHIR version '4.0.1'
include FHIRHelpers version '4.0.1' called FHIRHelpers
codesystem "ConditionClinicalStatusCodes": 'http://terminology.hl7.org/CodeSystem/condition-clinical'
valueset "Bleeding": 'http://example.org/ValueSet/bleeding'
code "Active": 'active' from "ConditionClinicalStatusCodes"
context Patient
define "Retrieved": [Condition: "Bleeding"] C return C.id
define "In Value Set": [Condition] C where FHIRHelpers.ToConcept(C.code) in "Bleeding" return C.id
define "Codings In Value Set": [Condition] C
  where exists (C.code.coding X where FHIRHelpers.ToCode(X) in "Bleeding") return C.id
define "Clinically Active": [Condition] C where C.clinicalStatus ~ "Active" return C.id
"""

NAMES = ["Retrieved", "In Value Set", "Codings In Value Set", "Clinically Active"]
BLEEDING_VS = {
    "resourceType": "ValueSet",
    "url": "http://example.org/ValueSet/bleeding",
    "expansion": {
        "contains": [
            {"system": ICD10CM, "code": "K62.5"},
            {"system": SNOMED, "code": "12063002"},
        ]
    },
}


@pytest.fixture(scope="module")
def coding_engine(translate):
    return engine_for(
        translate(LIB),
        with_fhir_helpers=True,
        terminology=Terminology.from_resources([BLEEDING_VS]),
    )


def _patient(*conditions: dict) -> list[dict]:
    return [{"resourceType": "Patient", "id": "p"}, *conditions]


@pytest.mark.parametrize(
    ("system", "code"),
    [
        (ICD10CM, "K625"),
        (ICD10CM, "k62.5"),
        ("urn:oid:2.16.840.1.113883.6.90", "K62.5"),
        ("urn:oid:2.16.840.1.113883.6.96", "12063002"),
        (SNOMED, " 12063002 "),
    ],
)
def test_retrieves_and_in_tests_on_fhirhelpers_conversions_see_canonical_codes(
    coding_engine, system, code
) -> None:
    record = _patient(
        condition({"code": "active"}, id="b", code={"coding": [{"system": system, "code": code}]})
    )
    before = copy.deepcopy(record)
    got = coding_engine.evaluate(
        "CodingSpec", NAMES, data=record, now=dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    )
    assert got == {
        "Retrieved": ["b"],
        "In Value Set": ["b"],
        "Codings In Value Set": ["b"],
        "Clinically Active": ["b"],
    }
    assert record == before


def test_near_misses_stay_unmatched_in_the_engine(coding_engine) -> None:
    record = _patient(
        condition(
            {"code": "Active"}, id="n1", code={"coding": [{"system": SNOMED, "code": "K625"}]}
        ),
        condition(id="n2", code={"coding": [{"system": ICD10CM, "code": "K62"}]}),
        condition(id="n3", code={"coding": [{"system": "http://example.org/cs", "code": "K62.5"}]}),
    )
    got = coding_engine.evaluate(
        "CodingSpec", NAMES, data=record, now=dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    )
    assert got == {name: [] for name in NAMES}
