"""Our engine and cql-execution agree, definition by definition, on the same ELM and data."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.oracle.bundles import (
    UCUM,
    all_patients,
    make_bundle,
    observation,
    procedure,
    rich_patient,
    sparse_patient,
)

pytestmark = [pytest.mark.slow, pytest.mark.oracle]

TERMINOLOGY = Path(__file__).resolve().parent / "terminology"
NOW = dt.datetime(2024, 9, 1, 12, 0, tzinfo=dt.UTC)


def test_fhirhelpers_conversions_agree_with_the_reference_engine(oracle, probe_elm):
    oracle.compare(probe_elm, "FHIRHelpersProbe", all_patients(), now=NOW, terminology=TERMINOLOGY)


def test_retrieves_choice_types_dates_and_value_sets_agree(oracle, probe_elm):
    # Includes durations on partial precision (`days between` a day-precision dateTime and
    # Now(), AgeInYears for a birthDate of '1955'): uncertainties in both engines.
    oracle.compare(probe_elm, "OracleProbe", all_patients(), now=NOW, terminology=TERMINOLOGY)


def test_parameters_reach_both_engines(oracle, probe_elm):
    period = {
        "@type": "Interval",
        "low": {"@type": "DateTime", "value": "2024-06-01T00:00:00.000+00:00"},
        "high": {"@type": "DateTime", "value": "2024-07-01T00:00:00.000+00:00"},
        "lowClosed": True,
        "highClosed": False,
    }
    params = {"Measurement Period": period, "Lookback Days": 400}
    ours = oracle.compare(
        probe_elm,
        "OracleProbe",
        rich_patient(),
        params,
        NOW,
        expressions=["Dilations In Period", "Recent Dilation"],
        terminology=TERMINOLOGY,
    )
    assert [p["id"] for p in ours["Dilations In Period"]] == ["p2"]


def test_reference_results_are_canonical_json(oracle, probe_elm):
    ref = oracle.evaluate(
        probe_elm, "OracleProbe", rich_patient(), now=NOW, terminology=TERMINOLOGY
    )
    assert ref["Has Stenosis"] is True
    assert ref["Birth Date"] == "1968-07-14" or ref["Birth Date"]["value"] == "1968-07-14"
    assert ref["Age In Years"] == 56
    assert ref["Last Dilation"] == {"@type": "DateTime", "value": "2024-06-15"}
    assert ref["Nothing"] is None
    assert ref["Empty"] == []


def test_one_bundle_gives_one_result_dict_and_a_list_gives_one_per_bundle(oracle, probe_elm):
    one = oracle.evaluate(
        probe_elm,
        "OracleProbe",
        sparse_patient(),
        now=NOW,
        expressions=["Age In Years"],
        terminology=TERMINOLOGY,
    )
    many = oracle.evaluate(
        probe_elm,
        "OracleProbe",
        all_patients(),
        now=NOW,
        expressions=["Age In Years"],
        terminology=TERMINOLOGY,
    )
    assert one == many[1]
    assert len(many) == 3


def test_a_parameter_set_by_name_reaches_the_included_library_that_declares_it(oracle, probe_elm):
    # Both engines apply evaluation parameters by bare name to every library that declares
    # them, so a deployment threshold declared in an included library is honoured.
    oracle.compare(
        probe_elm,
        "IncludedParameterProbe",
        rich_patient(),
        {"Lookback Days": 30},  # default 90: the last dilation (78 days ago) is recent only then
        NOW,
        terminology=TERMINOLOGY,
    )


def test_fractional_durations_added_to_dates(oracle, probe_elm):
    # `Today() - 0.5 'd'` (a FHIR Duration of half a day): cql-execution converts to 12 hours
    # and lands on the previous day; ours drops the fraction and stays on today.
    record = make_bundle(
        {"resourceType": "Patient", "id": "half-day", "birthDate": "1970"},
        observation("o-half", {"valueQuantity": {"value": 0.5, "system": UCUM, "code": "d"}}),
        observation("o-two", {"valueQuantity": {"value": 2, "system": UCUM, "code": "d"}}),
    )
    gap = "fractional day quantities subtracted from a Date: ours truncates, cql-execution not"
    oracle.compare(
        probe_elm,
        "FHIRHelpersProbe",
        record,
        now=NOW,
        terminology=TERMINOLOGY,
        known_differences={"Day Quantities In Days": gap},
    )


def test_months_between_an_offset_datetime_and_today(oracle, probe_elm):
    # Found by test_random_records.py: "Last Dilation" 1940-01-01T00:00:00-05:00 and Today()
    # (a Date, so a DateTime of day precision): cql-execution answers [1015, 1016] months.
    record = make_bundle(
        {"resourceType": "Patient", "id": "offset", "birthDate": "1940"},
        procedure("p0", {"performedDateTime": "1940-01-01T00:00:00-05:00"}),
    )
    gap = "ours: months between an offset DateTime and a day-precision Today() is one number"
    oracle.compare(
        probe_elm,
        "OracleProbe",
        record,
        now=NOW,
        terminology=TERMINOLOGY,
        known_differences={"Months Since Last Dilation": gap},
    )


def test_an_uncertain_age_at_the_threshold_is_compared_by_its_bounds(oracle):
    # Found by test_random_records.py: birthDate '2005' on 2024-09-01 gives AgeInYears()
    # = [18, 19]; `"Age" >= 18` is true for every possible age (both engines: true).
    from benchmarks.engine_bench import BENCH_ELM
    from benchmarks.engine_bench import TERMINOLOGY as BENCH_TERMINOLOGY
    from tools.node import CQL_DIR

    record = make_bundle({"resourceType": "Patient", "id": "born-2005", "birthDate": "2005"})
    oracle.compare(
        [BENCH_ELM, CQL_DIR / "elm"],
        "DilationBench",
        record,
        now=NOW,
        terminology=BENCH_TERMINOLOGY,
        expressions=["Age", "Is Adult"],
    )


def test_dates_whose_order_is_uncertain(oracle):
    # Found by test_random_records.py on DilationBench. Max of 1940-01-01T00:00:00+02:00 and
    # '1940' (order unknown): cql-execution answers '1940', ours the full dateTime. And with
    # '1940' and 1941-01-01T00:00:00+02:00 (= 1940-12-31T22:00Z), `N > D` differs, so the
    # `let` in "Gaps Between Dilations" finds a next date for ours only.
    from benchmarks.engine_bench import BENCH_ELM
    from benchmarks.engine_bench import TERMINOLOGY as BENCH_TERMINOLOGY
    from tools.node import CQL_DIR

    same_year = make_bundle(
        {"resourceType": "Patient", "id": "uncertain-order", "birthDate": "1930"},
        procedure("p-full", {"performedDateTime": "1940-01-01T00:00:00+02:00"}),
        procedure("p-year", {"performedDateTime": "1940"}),
    )
    across_years = make_bundle(
        {"resourceType": "Patient", "id": "uncertain-order-2", "birthDate": "1930"},
        procedure("p-year", {"performedDateTime": "1940"}),
        procedure("p-next", {"performedDateTime": "1941-01-01T00:00:00+02:00"}),
    )
    gap = "comparisons of DateTimes of different precision and offsets"
    oracle.compare(
        [BENCH_ELM, CQL_DIR / "elm"],
        "DilationBench",
        [same_year, across_years],
        now=NOW,
        terminology=BENCH_TERMINOLOGY,
        expressions=["Last Dilation", "Gaps Between Dilations"],
        known_differences={"Last Dilation": gap, "Gaps Between Dilations": gap},
    )
