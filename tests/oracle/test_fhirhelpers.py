"""Our FHIRHelpers '4.0.1' provides every conversion the FHIR model info names, and translates."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CQL = ROOT / "cql"
NODE_MODULES = CQL / "node_modules"

needs_node = pytest.mark.skipif(
    not NODE_MODULES.exists() or shutil.which("node") is None,
    reason="Node toolchain not installed (cd cql && npm ci)",
)


def _generator():
    spec = importlib.util.spec_from_file_location(
        "gen_fhirhelpers", CQL / "scripts/gen_fhirhelpers.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_fhirhelpers", module)
    spec.loader.exec_module(module)
    return module


def _declared_functions(cql_text: str) -> set[tuple[str, str]]:
    return set(re.findall(r"^define function (\w+)\(\w+ ([\w.]+)\)", cql_text, re.M))


@needs_node
def test_every_model_info_conversion_has_a_function_with_that_signature():
    gen = _generator()
    wanted = {(c.function, c.from_type) for c in gen.read_conversions(gen.MODEL_INFO)}
    declared = _declared_functions((CQL / "FHIRHelpers.cql").read_text())
    assert len(wanted) > 250
    assert wanted <= declared, sorted(wanted - declared)


@needs_node
def test_committed_fhirhelpers_is_what_the_generator_writes():
    assert (CQL / "FHIRHelpers.cql").read_text() == _generator().generate()


def test_fhirhelpers_declares_the_fhir_4_0_1_identity():
    text = (CQL / "FHIRHelpers.cql").read_text()
    assert "library FHIRHelpers version '4.0.1'" in text
    assert "using FHIR version '4.0.1'" in text


TINY = """library TinyUsesHelpers version '0.1.0'
using FHIR version '4.0.1'
include FHIRHelpers version '4.0.1' called FHIRHelpers
codesystem "LOINC": 'http://loinc.org'
code "Weight": '29463-7' from "LOINC"
context Patient
define "Born": Patient.birthDate before @2020-01-01
define "Active": Patient.active and true
define "Gender": Patient.gender = 'female'
define "Heavy": [Observation: "Weight"] O where (O.value as FHIR.Quantity) > 50 'kg'
define "Issued": [Observation] O return O.issued
define "Recent": [Condition] C where (C.onset as FHIR.dateTime) after @2024-01-01T00:00:00Z
define "Stays": [Encounter] E return duration in days of E.period
define "Coded": [Condition] C where C.code ~ FHIRHelpers.ToConcept(C.code)
define "Ranged": [Observation] O return O.value as FHIR.Range
define "Ratios": [Observation] O return FHIRHelpers.ToRatio(O.value as FHIR.Ratio)
define "Counts": [Observation] O return (O.value as FHIR.integer) + 1
define "Clock": [Observation] O where (O.value as FHIR.time) > @T12:00
define "Decimals": [RiskAssessment] R return R.prediction P return (P.probability as FHIR.decimal)
    + 0.5
"""


@pytest.mark.slow
@pytest.mark.oracle
@needs_node
def test_a_library_including_fhirhelpers_translates_cleanly_and_calls_its_conversions(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    shutil.copy(CQL / "FHIRHelpers.cql", lib / "FHIRHelpers.cql")
    (lib / "TinyUsesHelpers.cql").write_text(TINY)
    out = tmp_path / "elm"
    run = subprocess.run(
        [
            "node",
            str(CQL / "scripts/translate.mjs"),
            "--out",
            str(out),
            "--lib",
            str(lib),
            str(lib / "TinyUsesHelpers.cql"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    elm = (out / "TinyUsesHelpers.json").read_text()
    called = set(re.findall(r'"libraryName": "FHIRHelpers",\s*"name": "(\w+)"', elm))
    called |= set(re.findall(r'"name": "(\w+)",\s*"libraryName": "FHIRHelpers"', elm))
    for name in [
        "ToDate",
        "ToBoolean",
        "ToString",
        "ToQuantity",
        "ToDateTime",
        "ToInterval",
        "ToConcept",
        "ToRatio",
        "ToInteger",
        "ToTime",
        "ToDecimal",
    ]:
        assert name in called, (name, sorted(called))
    assert json.loads(elm)["library"]["includes"]["def"][0]["version"] == "4.0.1"
