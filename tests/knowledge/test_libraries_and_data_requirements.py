"""Library resources and DataRequirements generated from the CQL and its ELM."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from fhir.resources.R4B.library import Library

from service.knowledge.libraries import load_cql_libraries
from tests.apply.fixture_kb import BASE, FIXTURE, LOINC, ROOT

UCUM = "http://unitsofmeasure.org"


def test_a_library_carries_its_cql_and_elm_as_base64_content(kb):
    lib = kb.resolve(f"{BASE}/Library/DemoDilation")
    Library.model_validate(lib)
    contents = {c["contentType"]: base64.b64decode(c["data"]).decode() for c in lib["content"]}
    assert contents["text/cql"] == (FIXTURE / "cql" / "DemoDilation.cql").read_text()
    elm = json.loads(contents["application/elm+json"])
    assert elm["library"]["identifier"] == {"id": "DemoDilation", "version": "1.0.0"}


def test_a_library_declares_what_it_depends_on(kb):
    lib = kb.resolve(f"{BASE}/Library/DemoDilation")
    deps = {r["resource"] for r in lib["relatedArtifact"] if r["type"] == "depends-on"}
    assert deps == {
        f"{BASE}/Library/FHIRHelpers|4.0.1",
        LOINC,
        "http://snomed.info/sct",
        f"{BASE}/ValueSet/demo-anal-stenosis",
    }


def test_library_parameters_list_cql_parameters_in_and_definitions_out(kb):
    params = {p["name"]: p for p in kb.resolve(f"{BASE}/Library/DemoDilation")["parameter"]}
    assert params["Pain Threshold"] == {
        "name": "Pain Threshold",
        "use": "in",
        "min": 0,
        "max": "1",
        "type": "integer",
    }
    assert params["Pain Lookback"]["type"] == "Quantity"
    assert params["Has Anal Stenosis"]["use"] == "out"
    assert params["Has Anal Stenosis"]["type"] == "boolean"
    assert params["Stenosis Conditions"]["type"] == "Condition"
    assert params["Stenosis Conditions"]["max"] == "*"


def requirement(reqs, rtype, code=None):
    for r in reqs:
        if r["type"] != rtype:
            continue
        codes = [c.get("code") for f in r.get("codeFilter", []) for c in f.get("code", [])]
        if code is None or code in codes:
            return r
    raise AssertionError(f"no {rtype} {code} requirement in {reqs}")


def test_a_retrieve_by_value_set_becomes_a_code_filter_with_the_value_set(kb):
    reqs = kb.resolve(f"{BASE}/Library/DemoDilation")["dataRequirement"]
    cond = requirement(reqs, "Condition")
    assert cond["codeFilter"] == [
        {"path": "code", "valueSet": f"{BASE}/ValueSet/demo-anal-stenosis"}
    ]
    assert cond["profile"] == ["http://hl7.org/fhir/StructureDefinition/Condition"]
    assert "dateFilter" not in cond


def test_a_lookback_interval_from_a_parameter_default_becomes_a_date_filter(kb):
    reqs = kb.resolve(f"{BASE}/Library/DemoDilation")["dataRequirement"]
    pain = requirement(reqs, "Observation", "72514-3")
    assert pain["codeFilter"][0]["code"][0]["system"] == LOINC
    assert pain["dateFilter"] == [
        {
            "path": "effective",
            "valueDuration": {"value": 30, "unit": "days", "system": UCUM, "code": "d"},
        }
    ]


def test_an_on_or_after_bound_becomes_a_date_filter(kb):
    reqs = kb.resolve(f"{BASE}/Library/DemoDilation")["dataRequirement"]
    bleeding = requirement(reqs, "Observation", "12063002")
    assert bleeding["dateFilter"][0]["valueDuration"]["value"] == 14


def test_the_patient_is_always_required(kb):
    assert requirement(kb.resolve(f"{BASE}/Library/DemoDilation")["dataRequirement"], "Patient")


def test_plan_definition_requirements_follow_its_libraries_and_activity_definitions(kb):
    pd = kb.resolve("PlanDefinition/demo-dilation")
    reqs = kb.data_requirements(pd)
    assert reqs == kb.resolve(f"{BASE}/Library/DemoDilation")["dataRequirement"]
    reqs[0]["type"] = "Mutated"
    assert kb.data_requirements(pd)[0]["type"] != "Mutated", "callers get copies"


def test_the_real_content_libraries_are_generated_and_valid():
    libraries = load_cql_libraries(ROOT / "cql")
    for lib in libraries.values():
        Library.model_validate(lib.resource)
    if "AnalDilationRecommendations" in libraries:
        reqs = libraries["AnalDilationRecommendations"].resource["dataRequirement"]
        assert {r["type"] for r in reqs} >= {"Patient", "Condition"}


def test_an_undated_use_of_the_same_retrieve_removes_the_date_filter(tmp_path: Path):
    from service.knowledge.data_requirements import merge_requirements

    window = {"path": "effective", "valueDuration": {"value": 30, "unit": "days"}}
    dated = {
        "type": "Observation",
        "codeFilter": [{"path": "code", "valueSet": "v"}],
        "dateFilter": [window],
    }
    wider = json.loads(json.dumps(dated))
    wider["dateFilter"][0]["valueDuration"] = {"value": 2, "unit": "months"}
    assert merge_requirements([dated, wider]) == [wider]
    undated = {k: v for k, v in dated.items() if k != "dateFilter"}
    assert merge_requirements([dated, undated, wider]) == [undated]


def test_a_lookback_inside_a_helper_function_becomes_a_date_filter_at_the_call_site(kb):
    reqs = kb.resolve(f"{BASE}/Library/DemoDilation")["dataRequirement"]
    anal_pain = requirement(reqs, "Observation", "68653001")
    assert anal_pain["dateFilter"] == [
        {
            "path": "effective",
            "valueDuration": {"value": 21, "unit": "days", "system": UCUM, "code": "d"},
        }
    ]


def test_a_lookback_given_by_an_included_librarys_parameter_stays_a_date_filter():
    """R17's last review reads dilations within Common."Home Program Expiry Months": the prefetch
    for professional dilations stays bounded, and widens with that parameter's deployed value."""
    from service.knowledge.data_requirements import library_requirements

    libraries = load_cql_libraries(ROOT / "cql")
    dilation_vs = "https://dilation-cds.org/fhir/ValueSet/professional-dilation"

    def window(values=None) -> list[dict]:
        reqs = library_requirements("AnalDilationRecommendations", libraries, values)
        (req,) = [
            r
            for r in reqs
            if r["type"] == "Procedure"
            and any(f.get("valueSet") == dilation_vs for f in r.get("codeFilter", []))
        ]
        return [f["valueDuration"] for f in req.get("dateFilter", [])]

    assert [d["value"] for d in window()] == [12]
    assert [d["value"] for d in window({"Home Program Expiry Months": 30})] == [30]
