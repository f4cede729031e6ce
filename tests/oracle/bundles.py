"""Patient records (FHIR R4 Bundles) exercising choice types, partial dates and odd units."""

from __future__ import annotations

SCT = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


def make_bundle(patient: dict, *resources: dict) -> dict:
    entries = [patient, *resources]
    for r in resources:
        r.setdefault("subject", {"reference": f"Patient/{patient['id']}"})
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in entries],
    }


def condition(ident: str, code: str, system: str = SCT, **extra) -> dict:
    return {
        "resourceType": "Condition",
        "id": ident,
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active",
                }
            ]
        },
        "code": {"coding": [{"system": system, "code": code}], "text": f"condition {code}"},
        **extra,
    }


def procedure(ident: str, performed: dict, code: str = "386768003") -> dict:
    return {
        "resourceType": "Procedure",
        "id": ident,
        "status": "completed",
        "code": {"coding": [{"system": SCT, "code": code, "display": "Dilation of anus"}]},
        **performed,
    }


def observation(ident: str, value: dict, code: str = "72514-3", status: str = "final") -> dict:
    return {
        "resourceType": "Observation",
        "id": ident,
        "status": status,
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "issued": "2024-05-02T09:30:00.000+02:00",
        **value,
    }


def rich_patient() -> dict:
    """Every onset[x] / value[x] / performed[x] choice, Periods with and without an end."""
    patient = {
        "resourceType": "Patient",
        "id": "rich",
        "active": True,
        "gender": "female",
        "birthDate": "1968-07-14",
        "name": [{"family": "Example", "given": ["Ada"]}],
        "maritalStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "M"}
            ]
        },
    }
    return make_bundle(
        patient,
        condition(
            "c-stenosis",
            "29053004",
            onsetDateTime="2023-11-02T10:00:00Z",
            recordedDate="2023-11-03",
        ),
        condition(
            "c-icd",
            "K62.4",
            system="http://hl7.org/fhir/sid/icd-10-cm",
            onsetPeriod={"start": "2022-01-01", "end": "2022-06-30"},
        ),
        condition("c-open-period", "64766004", onsetPeriod={"end": "2021-03-01T00:00:00Z"}),
        condition(
            "c-age", "74400008", onsetAge={"value": 40, "unit": "a", "system": UCUM, "code": "a"}
        ),
        condition(
            "c-range",
            "1234",
            onsetRange={
                "low": {"value": 30, "system": UCUM, "code": "a"},
                "high": {"value": 35, "system": UCUM, "code": "a"},
            },
        ),
        condition("c-string", "5678", onsetString="in childhood"),
        procedure("p1", {"performedDateTime": "2024-02-10T08:00:00Z"}),
        procedure("p2", {"performedDateTime": "2024-06-15"}),
        procedure("p3", {"performedDateTime": "2023-12-01T14:30:00+01:00"}),
        procedure(
            "p4",
            {"performedPeriod": {"start": "2024-03-01T10:00:00Z", "end": "2024-03-01T11:00:00Z"}},
        ),
        procedure("p-other", {"performedDateTime": "2024-04-01"}, code="1111"),
        observation(
            "o-mg", {"valueQuantity": {"value": 4.5, "unit": "mg", "system": UCUM, "code": "mg"}}
        ),
        observation("o-score", {"valueQuantity": {"value": 7, "system": UCUM, "code": "1"}}),
        observation(
            "o-prelim",
            {"valueQuantity": {"value": 2, "system": UCUM, "code": "1"}},
            status="preliminary",
        ),
        observation(
            "o-comparator",
            {"valueQuantity": {"value": 10, "comparator": "<", "system": UCUM, "code": "mg"}},
            code="1000-1",
        ),
        observation(
            "o-days",
            {"valueQuantity": {"value": 14, "unit": "days", "system": UCUM, "code": "d"}},
            code="1000-2",
        ),
        observation(
            "o-ratio",
            {
                "valueRatio": {
                    "numerator": {"value": 1, "system": UCUM, "code": "mg"},
                    "denominator": {"value": 2, "system": UCUM, "code": "mL"},
                }
            },
            code="1000-3",
        ),
        observation("o-int", {"valueInteger": 3}, code="1000-4"),
        observation("o-bool", {"valueBoolean": False}, code="1000-5"),
        observation("o-time", {"valueTime": "08:15:00"}, code="1000-6"),
        observation("o-string", {"valueString": "mild discomfort"}, code="1000-7"),
        {
            "resourceType": "Encounter",
            "id": "e1",
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "period": {"start": "2024-02-10T07:00:00Z", "end": "2024-02-12T18:00:00Z"},
        },
        {
            "resourceType": "Encounter",
            "id": "e2",
            "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
            "period": {"start": "2024-06-14T07:00:00Z"},
        },
        {
            "resourceType": "MedicationRequest",
            "id": "m1",
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": {
                "coding": [
                    {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "197361"}
                ],
                "text": "a laxative",
            },
        },
    )


def sparse_patient() -> dict:
    """A partial birth date and nothing else: empty lists, nulls, uncertain ages."""
    return make_bundle({"resourceType": "Patient", "id": "sparse", "birthDate": "1980-05"})


def partial_dates_patient() -> dict:
    """Dates at year and month precision, and a timezone-less dateTime."""
    patient = {"resourceType": "Patient", "id": "partial", "gender": "male", "birthDate": "1955"}
    return make_bundle(
        patient,
        condition("c-year", "29053004", onsetDateTime="2019"),
        procedure("p-month", {"performedDateTime": "2024-03"}),
        procedure("p-local", {"performedDateTime": "2024-04-20T10:00:00"}),
        observation("o-dec", {"valueQuantity": {"value": 0.125, "system": UCUM, "code": "g"}}),
    )


def all_patients() -> list[dict]:
    return [rich_patient(), sparse_patient(), partial_dates_patient()]
