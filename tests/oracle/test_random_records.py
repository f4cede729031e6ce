"""Property: on any patient record, our engine and cql-execution agree on every definition.

Records are generated (Hypothesis, derandomized: the same examples on every run) from the
pieces that trip engines up: partial dates, timezone offsets or none, every onset[x] /
performed[x] / value[x] choice, quantities with and without comparators and UCUM codes,
Periods with a missing start or end, resources outside the value sets.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from tests.oracle.bundles import UCUM, condition, observation, procedure

pytestmark = [pytest.mark.slow, pytest.mark.oracle]

TERMINOLOGY = Path(__file__).resolve().parent / "terminology"
NOW = dt.datetime(2024, 9, 1, 12, 0, tzinfo=dt.UTC)

years = st.integers(min_value=1940, max_value=2024)
months = st.integers(min_value=1, max_value=12)
days = st.integers(min_value=1, max_value=28)
offsets = st.sampled_from(["Z", "+02:00", "-05:00", "+05:30", ""])


@st.composite
def fhir_dates(draw, after: int | None = None) -> str:
    y = draw(years if after is None else st.integers(min_value=after + 1, max_value=2025))
    m, d = draw(months), draw(days)
    precision = draw(st.sampled_from(["year", "month", "day"]))
    return {"year": f"{y}", "month": f"{y}-{m:02d}", "day": f"{y}-{m:02d}-{d:02d}"}[precision]


@st.composite
def fhir_datetimes(draw, after: int | None = None) -> str:
    base = draw(fhir_dates(after))
    if len(base) < 10 or draw(st.booleans()):
        return base
    h, mi = draw(st.integers(0, 23)), draw(st.integers(0, 59))
    off = draw(offsets)
    return f"{base}T{h:02d}:{mi:02d}:00{off}"


@st.composite
def periods(draw) -> dict:
    # Always a start: two resources with equal Periods of unknown start would make equal
    # intervals whose `=` is null, and the engines part on whether `return` (distinct) merges
    # them (cql-execution does; CQL equality says unknown, so ours keeps both). A Period of
    # unknown start is covered once per record in tests/oracle/bundles.py instead.
    p = {"start": draw(fhir_datetimes())}
    if draw(st.booleans()):  # a later year: FHIR requires start <= end (ours raises otherwise)
        p["end"] = draw(fhir_datetimes(after=int(p["start"][:4])))
    return p


def _quantity(value: float, code: str, comparator: str | None) -> dict:
    if code in ("d", "a"):
        # Whole durations only: `Today() - 0.5 'd'` is a known difference (see
        # test_differential.py::test_fractional_durations_added_to_dates).
        value = int(value)
    q = {"value": value, "system": UCUM, "code": code}
    if comparator:
        q["comparator"] = comparator
    return q


quantities = st.builds(
    _quantity,
    st.one_of(st.integers(0, 20), st.sampled_from([0.5, 2.25, 7.125])),
    st.sampled_from(["mg", "g", "1", "d", "a", "mL"]),
    st.sampled_from([None, None, None, "<"]),
)

onsets = st.one_of(
    st.builds(lambda v: {"onsetDateTime": v}, fhir_datetimes()),
    st.builds(lambda v: {"onsetPeriod": v}, periods()),
    st.builds(lambda v: {"onsetAge": {**v, "code": "a"}}, quantities),
    st.builds(lambda v: {"onsetString": v}, st.sampled_from(["in childhood", "recently"])),
    st.just({}),
)
conditions = st.builds(
    lambda i, code, onset: condition(f"c{i}", code, **onset),
    st.integers(0, 10**6),
    st.sampled_from(["29053004", "64766004", "K62.4"]),
    onsets,
)
procedures = st.builds(
    lambda i, performed, code: procedure(f"p{i}", performed, code=code),
    st.integers(0, 10**6),
    st.one_of(
        st.builds(lambda v: {"performedDateTime": v}, fhir_datetimes()),
        st.builds(lambda v: {"performedPeriod": v}, periods()),
    ),
    st.sampled_from(["386768003", "386768003", "1111"]),
)
values = st.one_of(
    st.builds(lambda q: {"valueQuantity": q}, quantities),
    st.builds(lambda v: {"valueInteger": v}, st.integers(-5, 100)),
    st.builds(lambda v: {"valueBoolean": v}, st.booleans()),
    st.builds(lambda v: {"valueString": v}, st.sampled_from(["mild", "none"])),
    st.builds(lambda v: {"valueDateTime": v}, fhir_datetimes()),
)
observations = st.builds(
    lambda i, value, code, status: observation(f"o{i}", value, code=code, status=status),
    st.integers(0, 10**6),
    values,
    st.sampled_from(["72514-3", "1000-1"]),
    st.sampled_from(["final", "amended", "preliminary"]),
)


@st.composite
def records(draw) -> dict:
    patient = {"resourceType": "Patient", "id": "random", "birthDate": draw(fhir_dates())}
    if draw(st.booleans()):
        patient["gender"] = draw(st.sampled_from(["female", "male", "other"]))
    resources = draw(
        st.lists(
            st.one_of(conditions, procedures, observations), max_size=8, unique_by=lambda r: r["id"]
        )
    )
    for r in resources:
        r["subject"] = {"reference": "Patient/random"}
    entries = [patient, *resources]
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in entries],
    }


# Differences pinned strictly in test_differential.py; tolerated here when a record hits them.
TOLERATED = {
    "Months Since Last Dilation": "months between a DateTime with an offset and Today(): "
    "cql-execution answers an uncertainty, ours one number "
    "(test_differential.py::test_months_between_an_offset_datetime_and_today)",
}
UNCERTAIN_MAX = (
    "Max/Last over DateTimes whose order is uncertain (a year-precision date and a full "
    "dateTime in that year): the engines pick different elements "
    "(test_differential.py::test_the_latest_of_dates_whose_order_is_uncertain)"
)
TOLERATED |= dict.fromkeys(
    ["Last Dilation", "Days Since Last Dilation", "Recent Dilation"], UNCERTAIN_MAX
)


@settings(
    max_examples=int(os.environ.get("ORACLE_EXAMPLES", "40")),
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(record=records())
def test_both_engines_agree_on_random_records(oracle, probe_elm, record):
    note(json.dumps(record))
    for library in ("OracleProbe", "FHIRHelpersProbe"):
        oracle.compare(
            probe_elm,
            library,
            record,
            now=NOW,
            terminology=TERMINOLOGY,
            known_differences=TOLERATED,
            strict=False,
        )
