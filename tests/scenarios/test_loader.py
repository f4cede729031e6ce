"""The scenario loader turns relative case files into dated FHIR Bundles."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.scenarios.loader import CASES_DIR, load_scenarios, materialise, shift

NOW = datetime(2026, 3, 31, 14, 30, tzinfo=UTC)


def test_relative_dates_become_fhir_datetimes_and_dates():
    assert materialise("@now-10d", NOW) == "2026-03-21T14:30:00Z"
    assert materialise("@today-4y", NOW) == "2022-03-31"
    assert materialise({"a": ["@now+2h"]}, NOW) == {"a": ["2026-03-31T16:30:00Z"]}


def test_months_clamp_to_the_end_of_a_shorter_month():
    assert shift(NOW, "-1mo") == datetime(2026, 2, 28, 14, 30, tzinfo=UTC)
    assert shift(NOW, "-1y-2mo+3d") == datetime(2025, 2, 3, 14, 30, tzinfo=UTC)


def test_text_that_merely_mentions_now_is_left_alone():
    assert materialise("seen @now by surgeon", NOW) == "seen @now by surgeon"


def test_every_case_loads_with_a_patient_and_subject_references():
    scenarios = load_scenarios(NOW)
    assert scenarios, f"no cases in {CASES_DIR}"
    for s in scenarios:
        resources = [e["resource"] for e in s.bundle["entry"]]
        assert resources[0] == {**resources[0], "resourceType": "Patient", "id": s.patient_id}
        for r in resources[1:]:
            if "subject" in r:
                assert r["subject"] == {"reference": f"Patient/{s.patient_id}"}, s.slug


def test_loaded_dates_follow_the_evaluation_time():
    later = datetime(2030, 1, 1, tzinfo=UTC)
    first, again = load_scenarios(NOW)[0], load_scenarios(later)[0]
    assert first.bundle != again.bundle
    assert first.now == NOW and again.now == later


def test_a_naive_evaluation_time_is_refused():
    with pytest.raises(ValueError):
        load_scenarios(datetime(2026, 1, 1))
