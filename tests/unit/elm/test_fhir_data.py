"""Specs for the FHIR data source: retrieves, code filters, choice types, primitives, ages."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from service.elm import ElmEngine, ElmRuntimeError, PatientData, Terminology
from service.elm.datatypes.temporal import Date, DateTime

from .conftest import engine_for

LIB = """
library FhirSpec version '1.0'
using FHIR version '4.0.1'
include FHIRHelpers version '4.0.1' called FHIRHelpers
codesystem "LOINC": 'http://loinc.org'
valueset "Pain": 'http://example.org/ValueSet/pain'
valueset "Unknown": 'http://example.org/ValueSet/not-loaded'
code "Weight": '29463-7' from "LOINC" display 'Body weight'
parameter "Cutoff" Integer default 5
context Patient
define "Age": AgeInYears()
define "AgeInMonths": AgeInMonths()
define "BirthDate": Patient.birthDate
define "Gender": Patient.gender
define "PainObs": [Observation: "Pain"] O return O.id
define "WeightObs": [Observation: "Weight"] O return O.id
define "Final": [Observation] O where O.status = 'final' return O.id
define "WeightValue": First([Observation: "Weight"] O return (O.value as Quantity).value)
define "WeightQuantity": First([Observation: "Weight"] O
  return FHIRHelpers.ToQuantity(O.value as Quantity))
define "PointEffective": [Observation] O where O.effective is dateTime return O.id
define "EffectiveDates": [Observation] O return O.effective as dateTime
define "HighPain": [Observation: "Pain"] O where (O.value as integer) >= "Cutoff" return O.id
define "InVS": [Observation] O where O.code in "Pain" return O.id
define "Onsets": [Condition] C return C.onset
define "UsesUnknown": exists [Observation: "Unknown"]
define "Codes": [Observation] O return FHIRHelpers.ToConcept(O.code)
define "BirthDateExtensions": Patient.birthDate.extension E return E.url.value
define "ByIssued": [Observation] O sort by issued
define "ByEffectiveDesc": [Observation] O sort by (effective as dateTime) desc
define "IssuedSorted": [Observation] O return O.issued sort asc
define "WithEncounter": [Observation] O with [Encounter] E such that E.id = O.encounter.reference
  return O.id
define "WithAll": [Observation] O with [Encounter] E such that true return O.id
"""

PAIN_VS = {
    "resourceType": "ValueSet",
    "url": "http://example.org/ValueSet/pain",
    "expansion": {"contains": [{"system": "http://loinc.org", "code": "72514-3"}]},
}
NOW = dt.datetime(2025, 1, 1, 12, tzinfo=dt.UTC)


def bundle() -> dict:
    resources = [
        {
            "resourceType": "Patient",
            "id": "p",
            "gender": "female",
            "birthDate": "1980-06-15",
            "_birthDate": {"extension": [{"url": "http://example.org/birthTime"}]},
        },
        {
            "resourceType": "Observation",
            "id": "o1",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "72514-3"}]},
            "effectiveDateTime": "2024-01-02T10:00:00Z",
            "issued": "2024-01-02T05:00:00+06:00",
            "valueInteger": 7,
        },
        {
            "resourceType": "Observation",
            "id": "o2",
            "status": "preliminary",
            "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
            "effectivePeriod": {"start": "2024-01-01"},
            "issued": "2024-01-02T00:00:00Z",
            "valueQuantity": {
                "value": 72.5,
                "unit": "kg",
                "system": "http://unitsofmeasure.org",
                "code": "kg",
            },
        },
        {"resourceType": "Condition", "id": "c1", "onsetDateTime": "2020-01-01T08:30:00"},
    ]
    return {"resourceType": "Bundle", "entry": [{"resource": r} for r in resources]}


@pytest.fixture(scope="module")
def elm(translate) -> list[dict]:
    return translate(LIB)


@pytest.fixture(scope="module")
def engine(elm) -> ElmEngine:
    return engine_for(
        elm, with_fhir_helpers=True, terminology=Terminology.from_resources([PAIN_VS])
    )


@pytest.fixture(scope="module")
def results(engine: ElmEngine) -> dict:
    names = [n for n in engine.definitions("FhirSpec") if n != "UsesUnknown"]
    return engine.evaluate("FhirSpec", names, data=bundle(), now=NOW)


def test_patient_primitives_become_cql_values(results: dict) -> None:
    assert results["Age"] == 44
    assert results["AgeInMonths"] == 534
    assert results["Gender"] == "female"
    assert results["BirthDate"] == "1980-06-15"  # the FHIR element itself stays JSON
    assert results["BirthDateExtensions"] == ["http://example.org/birthTime"]


def test_retrieve_filters_by_value_set_and_by_code(results: dict) -> None:
    assert results["PainObs"] == ["o1"]
    assert results["WeightObs"] == ["o2"]
    assert results["InVS"] == ["o1"]


def test_implicit_fhirhelpers_conversions_apply_in_where_clauses(results: dict) -> None:
    assert results["Final"] == ["o1"]
    assert results["HighPain"] == ["o1"]


def test_choice_elements_cast_to_the_type_the_data_chose(results: dict) -> None:
    assert results["WeightValue"] == Decimal("72.5")
    q = results["WeightQuantity"]
    assert (q.value, q.unit) == (Decimal("72.5"), "kg")
    assert results["PointEffective"] == ["o1"]
    assert results["EffectiveDates"] == ["2024-01-02T10:00:00Z", None]
    assert results["Onsets"] == ["2020-01-01T08:30:00"]


def test_sorting_by_fhir_elements_compares_their_system_values(results: dict) -> None:
    # o1 was issued at 2024-01-01T23:00Z (offset +06:00), before o2: not string order
    assert [o["id"] for o in results["ByIssued"]] == ["o1", "o2"]
    assert [o["id"] for o in results["ByEffectiveDesc"]] == ["o1", "o2"]  # o2 has no dateTime
    assert results["IssuedSorted"] == ["2024-01-02T05:00:00+06:00", "2024-01-02T00:00:00Z"]


def test_codeable_concepts_convert_to_concepts(results: dict) -> None:
    concept = results["Codes"][0]
    assert [(c.system, c.code) for c in concept.codes] == [("http://loinc.org", "72514-3")]


def test_parameters_change_retrieve_filters(engine: ElmEngine) -> None:
    got = engine.evaluate("FhirSpec", ["HighPain"], data=bundle(), parameters={"Cutoff": 8})
    assert got == {"HighPain": []}


def test_prepared_data_is_reusable_and_accepts_lists_and_bundles(engine: ElmEngine) -> None:
    prepared = engine.prepare_data(bundle())
    as_list = [e["resource"] for e in bundle()["entry"]]
    a = engine.evaluate("FhirSpec", ["PainObs"], data=prepared, now=NOW)
    b = engine.evaluate("FhirSpec", ["PainObs"], data=prepared, now=NOW)
    c = engine.evaluate("FhirSpec", ["PainObs"], data=as_list, now=NOW)
    assert a == b == c == {"PainObs": ["o1"]}
    assert PatientData.from_any(None).resources("Observation") == []


def test_no_data_means_empty_retrieves(engine: ElmEngine) -> None:
    assert engine.evaluate("FhirSpec", ["PainObs", "Age"], data=None, now=NOW) == {
        "PainObs": [],
        "Age": None,
    }


def test_value_sets_missing_from_the_terminology_are_reported_and_fail_when_used(
    engine: ElmEngine,
) -> None:
    assert any("not-loaded" in m for m in engine.missing_terminology)
    with pytest.raises(ElmRuntimeError, match="not-loaded"):
        engine.evaluate("FhirSpec", ["UsesUnknown"], data=bundle(), now=NOW)


def test_strict_terminology_makes_missing_value_sets_a_load_error(elm) -> None:
    from service.elm import TerminologyError

    with pytest.raises(TerminologyError, match="not-loaded"):
        engine_for(
            elm,
            with_fhir_helpers=True,
            terminology=Terminology.from_resources([PAIN_VS]),
            strict_terminology=True,
        )


def test_datetimes_without_offset_take_the_evaluation_offset(engine: ElmEngine, translate) -> None:
    from service.elm.fhir.elements import parse_fhir_datetime

    class Ctx:
        now = dt.datetime(2025, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=2)))

    assert parse_fhir_datetime("2020-01-01T08:30:00", Ctx()) == DateTime.parse(
        "2020-01-01T08:30:00+02:00"
    )
    assert Date.parse("2020-01-01") is not None


def test_cli_evaluates_a_library_and_prints_json(elm, tmp_path: Path) -> None:
    from .conftest import fhir_helpers_elm

    elm_dir = tmp_path / "elm"
    elm_dir.mkdir()
    for lib in [*elm, fhir_helpers_elm()]:
        name = lib["library"]["identifier"]["id"]
        (elm_dir / f"{name}.json").write_text(json.dumps(lib))
    data = tmp_path / "bundle.json"
    data.write_text(json.dumps(bundle()))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "service.elm",
            "evaluate",
            "--elm-dir",
            str(elm_dir),
            "--library",
            "FhirSpec",
            "--expression",
            "Age",
            "--expression",
            "Final",
            "--data",
            str(data),
            "--param",
            "Cutoff=3",
            "--now",
            "2025-01-01T00:00:00Z",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"Age": 44, "Final": ["o1"]}


class CountingData(PatientData):
    """Counts how often each resource type is read (to observe memoisation)."""

    __slots__ = ("reads",)

    def __init__(self, resources: list[dict]) -> None:
        super().__init__(resources)
        self.reads: dict[str, int] = {}

    def resources(self, resource_type: str) -> list[dict]:
        self.reads[resource_type] = self.reads.get(resource_type, 0) + 1
        return super().resources(resource_type)


def test_retrieves_in_with_clauses_run_once_per_evaluation_not_per_row(
    engine: ElmEngine,
) -> None:
    obs = [
        {"resourceType": "Observation", "id": f"o{i}", "encounter": {"reference": "e1"}}
        for i in range(5)
    ]
    data = CountingData([{"resourceType": "Encounter", "id": "e1"}, *obs])
    got = engine.evaluate("FhirSpec", ["WithEncounter", "WithAll"], data=data, now=NOW)
    assert got["WithEncounter"] == [f"o{i}" for i in range(5)]
    assert got["WithAll"] == got["WithEncounter"]
    assert data.reads["Encounter"] == 2  # one per definition, not one per observation


def _int(v: int) -> dict:
    return {"type": "Literal", "valueType": "{urn:hl7-org:elm-types:r1}Integer", "value": str(v)}


def _date_time(y: int, m: int, d: int) -> dict:
    return {"type": "DateTime", "year": _int(y), "month": _int(m), "day": _int(d)}


def test_retrieve_date_range_keeps_points_and_periods_inside_the_range() -> None:
    retrieve = {
        "type": "Retrieve",
        "dataType": "{http://hl7.org/fhir}Procedure",
        "dateProperty": "performed",
        "dateRange": {
            "type": "Interval",
            "lowClosed": True,
            "highClosed": True,
            "low": _date_time(2024, 1, 1),
            "high": _date_time(2024, 12, 31),
        },
    }
    elm = {
        "library": {
            "identifier": {"id": "DateRange"},
            "statements": {
                "def": [
                    {
                        "name": "InRange",
                        "context": "Patient",
                        "expression": {
                            "type": "Query",
                            "source": [{"alias": "P", "expression": retrieve}],
                            "return": {
                                "distinct": False,
                                "expression": {"type": "Property", "path": "id", "scope": "P"},
                            },
                        },
                    }
                ]
            },
        }
    }
    procedures = [
        {"resourceType": "Procedure", "id": "in-point", "performedDateTime": "2024-03-01"},
        {"resourceType": "Procedure", "id": "out-point", "performedDateTime": "2023-03-01"},
        {
            "resourceType": "Procedure",
            "id": "in-period",
            "performedPeriod": {"start": "2024-02-01T10:00:00Z", "end": "2024-02-01T11:00:00Z"},
        },
        {
            "resourceType": "Procedure",
            "id": "straddling",
            "performedPeriod": {"start": "2023-12-31T10:00:00Z", "end": "2024-01-02T11:00:00Z"},
        },
        {"resourceType": "Procedure", "id": "undated"},
    ]
    got = ElmEngine.from_libraries([elm]).evaluate("DateRange", data=procedures, now=NOW)
    assert got == {"InRange": ["in-point", "in-period"]}
