"""Specs for compile-time work: constant folding, memoising row-invariant subtrees, errors."""

from __future__ import annotations

import datetime as dt

import pytest

from service.elm import ElmEngine, PatientData
from service.elm.compiler import is_constant

from .conftest import engine_for

LIB = """
library CompileSpec version '1.0'
using FHIR version '4.0.1'
include FHIRHelpers version '4.0.1' called FHIRHelpers
parameter "Limit" Integer default 2
context Patient
define "Folded": (2 + 3) * 4
define "FoldedString": Upper('a' + 'b')
define "UsesParameter": "Limit" + 1
define "UsesNow": Now()
define "Invalid": singleton from { 1, 2 }
define "WithEncounter": [Observation] O
  with [Encounter] E such that E.id = O.encounter.reference
  return O.id
define "WithAll": [Observation] O with [Encounter] E such that true return O.id
"""


class CountingData(PatientData):
    """Counts how often each resource type is read (to observe memoisation)."""

    __slots__ = ("reads",)

    def __init__(self, resources: list[dict]) -> None:
        super().__init__(resources)
        self.reads: dict[str, int] = {}

    def resources(self, resource_type: str) -> list[dict]:
        self.reads[resource_type] = self.reads.get(resource_type, 0) + 1
        return super().resources(resource_type)


@pytest.fixture(scope="module")
def engine(translate) -> ElmEngine:
    return engine_for(translate(LIB), with_fhir_helpers=True)


def body(engine: ElmEngine, name: str):
    return engine.library("CompileSpec").expressions[name].body


def test_pure_literal_subtrees_are_folded_into_constants(engine: ElmEngine) -> None:
    assert is_constant(body(engine, "Folded"))
    assert is_constant(body(engine, "FoldedString"))
    assert engine.evaluate("CompileSpec", ["Folded", "FoldedString"]) == {
        "Folded": 20,
        "FoldedString": "AB",
    }


def test_anything_reading_evaluation_state_is_not_folded(engine: ElmEngine) -> None:
    assert not is_constant(body(engine, "UsesParameter"))
    assert not is_constant(body(engine, "UsesNow"))
    assert engine.evaluate("CompileSpec", ["UsesParameter"], parameters={"Limit": 5}) == {
        "UsesParameter": 6
    }


def test_subtrees_that_raise_are_left_to_fail_at_run_time(engine: ElmEngine) -> None:
    assert not is_constant(body(engine, "Invalid"))


def test_retrieves_in_with_clauses_run_once_per_evaluation_not_per_row(
    engine: ElmEngine,
) -> None:
    obs = [
        {"resourceType": "Observation", "id": f"o{i}", "encounter": {"reference": "e1"}}
        for i in range(5)
    ]
    data = CountingData([{"resourceType": "Encounter", "id": "e1"}, *obs])
    got = engine.evaluate(
        "CompileSpec", ["WithEncounter", "WithAll"], data=data, now=dt.datetime.now(dt.UTC)
    )
    assert got["WithEncounter"] == [f"o{i}" for i in range(5)]
    assert got["WithAll"] == got["WithEncounter"]
    assert data.reads["Encounter"] == 2  # one per definition, not one per observation
