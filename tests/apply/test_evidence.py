"""Pertinent-evidence extensions: which resources, and how a clinician reads them."""

from __future__ import annotations

from service.apply.evidence import EVIDENCE_EXTENSION, evidence_extension, summary


def test_a_condition_reads_as_its_display_and_onset():
    condition = {
        "resourceType": "Condition",
        "id": "c",
        "code": {"coding": [{"system": "s", "code": "1", "display": "Anal fissure"}]},
        "onsetDateTime": "2026-03-01T10:00:00Z",
    }
    assert summary(condition) == "Anal fissure, onset 2026-03-01"


def test_an_observation_reads_as_code_text_value_and_date():
    obs = {
        "resourceType": "Observation",
        "id": "o",
        "code": {"text": "Resting pressure", "coding": [{"code": "x", "display": "ignored"}]},
        "valueQuantity": {"value": 35, "unit": "mm[Hg]"},
        "effectivePeriod": {"start": "2026-02-03T00:00:00Z"},
    }
    assert summary(obs) == "Resting pressure: 35 mm[Hg], 2026-02-03"


def test_a_procedure_without_display_falls_back_to_the_code():
    proc = {"resourceType": "Procedure", "id": "p", "code": {"coding": [{"code": "46080"}]},
            "performedPeriod": {"end": "2025-12-01"}}  # fmt: skip
    assert summary(proc) == "46080, performed 2025-12-01"


def test_a_resource_without_code_or_date_reads_as_its_type():
    assert summary({"resourceType": "CarePlan", "id": "x"}) == "CarePlan"


def test_each_identifiable_resource_becomes_one_extension_once():
    c = {"resourceType": "Condition", "id": "c", "code": {"text": "Stenosis"}}
    exts = evidence_extension([c, c, {"no": "type"}, None, "text", {"resourceType": "X"}])
    assert exts == [
        {
            "url": EVIDENCE_EXTENSION,
            "valueReference": {"reference": "Condition/c", "display": "Stenosis"},
        }
    ]
    assert evidence_extension(c) == exts
    assert evidence_extension(None) == []
