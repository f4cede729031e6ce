"""The canonical JSON form of CQL values, identical for our engine and cql-execution."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from service.elm.canonical import canonical_number, from_canonical, to_canonical
from service.elm.datatypes import Code, Concept, Long, Tuple
from service.elm.datatypes.interval import Interval
from service.elm.datatypes.quantity import Quantity, Ratio
from service.elm.datatypes.temporal import Date, DateTime, Time
from service.elm.datatypes.uncertainty import Uncertainty
from tests.oracle.bundles import partial_dates_patient, rich_patient, sparse_patient

TERMINOLOGY = Path(__file__).resolve().parent / "terminology"


def test_scalars_are_plain_json_and_numbers_lose_their_integer_decimal_distinction():
    assert to_canonical(None) is None
    assert to_canonical(True) is True
    assert to_canonical("x") == "x"
    assert to_canonical(42) == 42
    assert to_canonical(Long(10**10)) == 10**10
    assert to_canonical(Decimal("2.0")) == 2
    assert to_canonical(Decimal("3.14159")) == 3.14159
    assert to_canonical(Decimal("0.123456789")) == 0.12345679  # 8 decimal places


def test_booleans_are_not_numbers():
    with pytest.raises(TypeError):
        canonical_number(True)


def test_temporal_values_are_iso_text_at_their_precision():
    assert to_canonical(Date(2024, 3)) == {"@type": "Date", "value": "2024-03"}
    assert to_canonical(DateTime(2024, 3, 1, 10, 30, 0, 0, tz=1)) == {
        "@type": "DateTime",
        "value": "2024-03-01T10:30:00.000+01:00",
    }
    assert to_canonical(DateTime(2024, tz=0)) == {"@type": "DateTime", "value": "2024"}
    assert to_canonical(Time(10, 30)) == {"@type": "Time", "value": "10:30"}
    aware = dt.datetime(2024, 1, 2, 3, 4, 5, 6000, tzinfo=dt.UTC)
    assert to_canonical(aware) == {"@type": "DateTime", "value": "2024-01-02T03:04:05.006+00:00"}


def test_clinical_values_tuples_lists_and_uncertainties():
    assert to_canonical(Code("1", "s", None, "d")) == {
        "@type": "Code",
        "code": "1",
        "system": "s",
        "version": None,
        "display": "d",
    }
    concept = to_canonical(Concept([Code("1", "s")], "c"))
    assert concept["@type"] == "Concept" and concept["codes"][0]["code"] == "1"
    assert to_canonical(Tuple(b=None, a=[1, None])) == {
        "@type": "Tuple",
        "elements": {"a": [1, None]},
    }
    assert to_canonical(Uncertainty(4, 5)) == {"@type": "Uncertainty", "low": 4, "high": 5}
    assert to_canonical(Uncertainty(5, 5)) == 5


def test_quantities_ratios_and_intervals():
    assert to_canonical(Quantity(Decimal("5.0"), "mg")) == {
        "@type": "Quantity",
        "value": 5,
        "unit": "mg",
    }
    assert to_canonical(Quantity(3, "months"))["unit"] == "month"
    assert to_canonical(Quantity(2, None))["unit"] == "1"
    ratio = to_canonical(Ratio(Quantity(1, "mg"), Quantity(2, "mL")))
    assert ratio["@type"] == "Ratio" and ratio["denominator"]["unit"] == "mL"
    assert to_canonical(Interval(1, 10, True, False)) == {
        "@type": "Interval",
        "low": 1,
        "high": 10,
        "lowClosed": True,
        "highClosed": False,
    }
    assert to_canonical(Interval(None, Date(2024, 1, 1), False, True))["low"] is None


def test_fhir_json_is_its_own_canonical_form():
    resource = {"resourceType": "Patient", "id": "p", "birthDate": "1980"}
    assert to_canonical(resource) is resource


def test_from_canonical_inverts_the_form_for_parameters():
    for value in [
        DateTime(2024, 3, 1, 10, tz=0),
        Date(2024, 3, 1),
        Time(8, 15),
        Code("1", "s"),
        Tuple(a=1, b="x"),
        [1, 2],
        Quantity(Decimal("2.5"), "mg"),
        Ratio(Quantity(1, "mg"), Quantity(2, "mL")),
        Interval(DateTime(2024, 1, 1, 0, tz=0), None, True, True),
        Interval(1, 5, False, True),
    ]:
        assert to_canonical(from_canonical(to_canonical(value))) == to_canonical(value)
    assert from_canonical(2.5) == Decimal("2.5")
    fhir = {"resourceType": "Observation"}
    assert from_canonical(fhir) is fhir


@pytest.mark.slow
@pytest.mark.oracle
def test_both_engines_write_every_value_type_identically(oracle, probe_elm):
    now = dt.datetime(2024, 9, 1, 12, tzinfo=dt.UTC)
    bundles = [sparse_patient(), rich_patient(), partial_dates_patient()]
    oracle.compare(
        probe_elm,
        "CanonicalProbe",
        bundles,
        now=now,
        terminology=TERMINOLOGY,
    )
