"""Conversions between FHIR JSON and CQL values at the edges of $apply."""

from __future__ import annotations

from decimal import Decimal

import pytest

from service.apply.values import ConversionError, parameters_to_cql, to_fhir
from service.elm.datatypes.clinical import Code, Concept
from service.elm.datatypes.interval import Interval
from service.elm.datatypes.quantity import Quantity
from service.elm.datatypes.temporal import Date, DateTime


def cql(*parameter: dict) -> dict:
    return parameters_to_cql({"resourceType": "Parameters", "parameter": list(parameter)})


def test_fhir_primitives_become_cql_primitives():
    got = cql(
        {"name": "i", "valueInteger": 9},
        {"name": "d", "valueDecimal": 1.5},
        {"name": "b", "valueBoolean": True},
        {"name": "s", "valueString": "x"},
        {"name": "c", "valueCode": "draft"},
    )
    assert got == {"i": 9, "d": Decimal("1.5"), "b": True, "s": "x", "c": "draft"}


def test_dates_become_cql_date_and_datetime_with_their_precision():
    got = cql(
        {"name": "dt", "valueDateTime": "2026-01-02T03:04:05Z"},
        {"name": "d", "valueDate": "2026-01"},
    )
    assert isinstance(got["dt"], DateTime) and str(got["dt"]) == "2026-01-02T03:04:05+00:00"
    assert isinstance(got["d"], Date) and str(got["d"]) == "2026-01"


def test_quantities_codings_and_concepts():
    got = cql(
        {"name": "q", "valueQuantity": {"value": 6, "unit": "month", "code": "mo"}},
        {"name": "code", "valueCoding": {"system": "http://loinc.org", "code": "72514-3"}},
        {
            "name": "cc",
            "valueCodeableConcept": {"coding": [{"system": "s", "code": "a"}], "text": "A"},
        },
    )
    assert isinstance(got["q"], Quantity) and got["q"].value == 6 and got["q"].unit == "mo"
    assert got["code"] == Code("72514-3", "http://loinc.org")
    assert isinstance(got["cc"], Concept) and got["cc"].display == "A"


def test_period_and_range_become_closed_intervals():
    got = cql(
        {"name": "p", "valuePeriod": {"start": "2026-01-01", "end": "2026-02-01"}},
        {"name": "r", "valueRange": {"low": {"value": 1}, "high": {"value": 3}}},
    )
    assert isinstance(got["p"], Interval) and got["p"].low_closed and got["p"].high_closed
    assert str(got["p"].low) == "2026-01-01" and got["r"].high.value == 3


def test_a_repeated_name_becomes_a_list():
    got = cql(
        {"name": "Selections", "valueString": "A/1"}, {"name": "Selections", "valueString": "B/2"}
    )
    assert got == {"Selections": ["A/1", "B/2"]}


@pytest.mark.parametrize(
    "parameter",
    [
        {"name": "x", "valueInteger": "9"},
        {"name": "x", "valueInteger": True},
        {"name": "x", "valueDateTime": "yesterday"},
        {"name": "x", "valueQuantity": {"unit": "mg"}},
        {"name": "x"},
        {"name": "x", "valueString": "a", "valueInteger": 1},
        {"name": "x", "valueAttachment": {}},
        {"valueInteger": 1},
    ],
)
def test_values_that_are_not_what_they_claim_are_refused(parameter):
    with pytest.raises(ConversionError):
        cql(parameter)


def test_cql_results_become_fhir_json():
    assert to_fhir(Code("a", "s", None, "A")) == {"system": "s", "code": "a", "display": "A"}
    assert to_fhir(Concept([Code("a", "s")], "text")) == {
        "coding": [{"system": "s", "code": "a"}],
        "text": "text",
    }
    assert to_fhir(Quantity(Decimal("17"), "1")) == {
        "value": 17,
        "unit": "1",
        "system": "http://unitsofmeasure.org",
        "code": "1",
    }
    assert to_fhir(Quantity(Decimal("2.5"), "weeks"))["code"] == "wk"
    assert to_fhir(DateTime.parse("2026-01-02T03:04:05Z")) == "2026-01-02T03:04:05+00:00"
    assert to_fhir(Interval(Date.parse("2026-01-01"), None)) == {"start": "2026-01-01"}
    assert to_fhir([1, None, Decimal("1.50")]) == [1, 1.5]
    assert to_fhir({"resourceType": "Patient", "id": "p"}) == {"resourceType": "Patient", "id": "p"}
