"""Hypothesis strategies for FHIR-ish patient records: mostly well-formed resources of the types
the content reads, coded with the very codes of our value sets (so that the logic's branches
fire), mixed with the malformed shapes real EHR data has (wrong types, missing fields, odd date
precisions, junk strings, huge numbers, nested garbage)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from hypothesis import strategies as st

TERMINOLOGY = Path(__file__).resolve().parents[2] / "plandefinitions" / "terminology"
TYPES = [
    "Condition",
    "Observation",
    "Procedure",
    "ServiceRequest",
    "DeviceRequest",
    "CarePlan",
    "Task",
    "MedicationRequest",
    "Encounter",
]
STATUSES = ["active", "completed", "final", "draft", "entered-in-error", "cancelled", "unknown"]
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"


@cache
def content_codes() -> list[tuple[str, str]]:
    """(system, code) pairs of every concept our ValueSets and CodeSystems enumerate."""
    out: set[tuple[str, str]] = set()
    for path in TERMINOLOGY.glob("*.json"):
        res = json.loads(path.read_text())
        if res.get("resourceType") == "CodeSystem":
            out.update((res["url"], c["code"]) for c in res.get("concept") or ())
        for inc in (res.get("compose") or {}).get("include") or ():
            out.update((inc.get("system", ""), c["code"]) for c in inc.get("concept") or ())
        for c in (res.get("expansion") or {}).get("contains") or ():
            out.add((c.get("system", ""), c.get("code", "")))
    return sorted(out)


junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def dates():
    """FHIR date/dateTime strings of every precision, plus near-misses and junk."""
    year = st.integers(min_value=1, max_value=9999)
    month = st.integers(min_value=1, max_value=12)
    day = st.integers(min_value=1, max_value=31)
    valid = st.one_of(
        year.map(lambda y: f"{y:04d}"),
        st.tuples(year, month).map(lambda t: f"{t[0]:04d}-{t[1]:02d}"),
        st.dates().map(lambda d: d.isoformat()),
        st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
        st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ")),
    )
    broken = st.one_of(
        st.tuples(year, month, day).map(lambda t: f"{t[0]:04d}-{t[1]:02d}-{t[2]:02d}"),
        st.sampled_from(["", "T", "2024-13-01", "2024-02-30T25:61:61Z", "now", "@today"]),
    )
    return st.one_of(valid, valid, broken, junk)


def codings():
    real = st.sampled_from(content_codes()).map(lambda sc: {"system": sc[0], "code": sc[1]})
    random_ = st.fixed_dictionaries(
        {},
        optional={
            "system": st.text(max_size=20),
            "code": st.text(max_size=8),
            "display": st.text(max_size=10),
        },
    )
    return st.one_of(real, real, real, random_, junk)


def concepts():
    return st.one_of(
        st.fixed_dictionaries(
            {"coding": st.lists(codings(), max_size=3)}, optional={"text": st.text(max_size=10)}
        ),
        st.fixed_dictionaries({"coding": st.lists(codings(), min_size=1, max_size=2)}),
        junk,
    )


def status_concept(system: str, codes: list[str]):
    return st.one_of(
        st.sampled_from(codes).map(lambda c: {"coding": [{"system": system, "code": c}]}), junk
    )


def quantities():
    return st.one_of(
        st.fixed_dictionaries(
            {
                "value": st.one_of(
                    st.integers(-(10**9), 10**9), st.floats(allow_nan=False, allow_infinity=False)
                )
            },
            optional={
                "unit": st.sampled_from(["mm", "cmH2O", "mmHg", "d", "wk", "{score}", "", "%%"]),
                "system": st.just("http://unitsofmeasure.org"),
                "code": st.sampled_from(["mm", "cm[H2O]", "mm[Hg]", "d", "wk", "1", "bogus"]),
            },
        ),
        junk,
    )


def resources(patient_id: str = "fuzz-patient"):
    subject = st.one_of(
        st.just({"reference": f"Patient/{patient_id}"}),
        st.just({"reference": "Patient/someone-else"}),
        junk,
    )
    common = {
        "id": st.one_of(st.text(alphabet="abcdefghij0123456789-", min_size=1, max_size=12), junk),
        "status": st.one_of(st.sampled_from(STATUSES), junk),
        "subject": subject,
        "code": concepts(),
        "category": st.one_of(st.lists(concepts(), max_size=2), junk),
        "clinicalStatus": status_concept(
            CLINICAL, ["active", "recurrence", "resolved", "inactive"]
        ),
        "verificationStatus": status_concept(VERIFICATION, ["confirmed", "refuted", "unconfirmed"]),
        "severity": concepts(),
        "intent": st.one_of(st.sampled_from(["order", "proposal", "plan"]), junk),
        "onsetDateTime": dates(),
        "abatementDateTime": dates(),
        "recordedDate": dates(),
        "effectiveDateTime": dates(),
        "issued": dates(),
        "performedDateTime": dates(),
        "authoredOn": dates(),
        "occurrenceDateTime": dates(),
        "performedPeriod": st.one_of(
            st.fixed_dictionaries({}, optional={"start": dates(), "end": dates()}), junk
        ),
        "occurrencePeriod": st.one_of(
            st.fixed_dictionaries({}, optional={"start": dates(), "end": dates()}), junk
        ),
        "period": st.one_of(
            st.fixed_dictionaries({}, optional={"start": dates(), "end": dates()}), junk
        ),
        "valueQuantity": quantities(),
        "valueInteger": st.one_of(st.integers(-(2**40), 2**40), junk),
        "valueBoolean": st.one_of(st.booleans(), junk),
        "valueCodeableConcept": concepts(),
        "valueString": st.one_of(st.text(max_size=20), junk),
        "interpretation": st.one_of(st.lists(concepts(), max_size=2), junk),
        "extension": st.one_of(
            st.lists(st.dictionaries(st.text(max_size=6), junk, max_size=2), max_size=2), junk
        ),
    }
    return st.builds(
        lambda rtype, fields: {"resourceType": rtype, **fields},
        st.sampled_from(TYPES),
        st.fixed_dictionaries({}, optional=common),
    )


def patients(patient_id: str = "fuzz-patient"):
    return st.builds(
        lambda fields: {"resourceType": "Patient", "id": patient_id, **fields},
        st.fixed_dictionaries(
            {},
            optional={
                "birthDate": dates(),
                "gender": st.one_of(st.sampled_from(["female", "male", "other", "unknown"]), junk),
                "deceasedBoolean": st.one_of(st.booleans(), junk),
            },
        ),
    )


def records(patient_id: str = "fuzz-patient", max_size: int = 12):
    """A patient's record as a list of resources (the Patient first, then anything)."""
    return st.builds(
        lambda p, rs: [p, *rs],
        patients(patient_id),
        st.lists(resources(patient_id), max_size=max_size),
    )
