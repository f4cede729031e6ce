"""Hand-written content and RequestGroups for testing the CDS Hooks layer on its own.

`FixtureKnowledgeBase` offers the KnowledgeBase API the service uses (plan_definitions,
data_requirements, resolve) over one small PlanDefinition. `FixtureApply` plays $apply: it
returns hand-written RequestGroups (in the shape docs/content-conventions.md defines) chosen by
simple facts of the data it receives, and records every call so tests can see what the service
passed (data, draft orders, Selections, trigger).
"""

from __future__ import annotations

from dataclasses import dataclass, field

BASE = "https://dilation-cds.org/fhir"
SD = f"{BASE}/StructureDefinition"
LOCAL = f"{BASE}/CodeSystem/anal-dilation-local"

PLAN = {
    "resourceType": "PlanDefinition",
    "id": "fixture-dilation",
    "url": f"{BASE}/PlanDefinition/fixture-dilation",
    "version": "0.1.0",
    "status": "active",
    "type": {"coding": [{"code": "eca-rule"}]},
    "title": "Fixture: professional versus home anal dilation",
    "description": "Recommends professional or home dilation.\n\nSecond paragraph.",
    "topic": [{"coding": [{"system": LOCAL, "code": "anal-dilation", "display": "Anal dilation"}]}],
    "extension": [
        {
            "url": "http://hl7.org/fhir/uv/cpg/StructureDefinition/cpg-qualityOfEvidence",
            "valueCodeableConcept": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/evidence-quality",
                        "code": "moderate",
                    }
                ]
            },
        }
    ],
    "action": [
        {
            "id": "escalate-severe-pain",
            "title": "Severe pain during home dilation: stop and review",
            "trigger": [
                {"type": "named-event", "name": "patient-view"},
                {"type": "named-event", "name": "order-sign"},
            ],
        },
        {
            "id": "home-program",
            "title": "Consider a clinician-prescribed home dilation program",
            "trigger": [
                {"type": "named-event", "name": "order-select"},
                {"type": "named-event", "name": "encounter-start"},
            ],
        },
    ],
}

REQUIREMENTS = [
    {
        "type": "Condition",
        "codeFilter": [{"path": "code", "valueSet": f"{BASE}/ValueSet/anal-stenosis"}],
    },
    {
        "type": "Observation",
        "codeFilter": [{"path": "code", "valueSet": f"{BASE}/ValueSet/dilation-pain-score"}],
        "dateFilter": [{"path": "effective", "valueDuration": {"value": 90, "code": "d"}}],
    },
    {"type": "Patient"},
]


class FixtureKnowledgeBase:
    def __init__(self, plans: list[dict] | None = None) -> None:
        self.plan_definitions = plans or [PLAN]

    def data_requirements(self, pd: dict) -> list[dict]:
        return REQUIREMENTS

    def resolve(self, canonical: str) -> dict | None:
        for pd in self.plan_definitions:
            if pd["url"] == canonical.split("|")[0]:
                return pd
        return None


@dataclass
class ApplyResult:
    request_group: dict
    resources: list[dict]
    issues: list[dict] = field(default_factory=list)


def _ext(url: str, **value) -> dict:
    return {"url": url, **value}


def escalation_action(evidence: list[dict]) -> dict:
    return {
        "id": "escalate-severe-pain",
        "title": "Severe pain during home dilation: stop and review",
        "description": "Stop home dilation and arrange a professional review within days.",
        "priority": "stat",
        "selectionBehavior": "exactly-one",
        "documentation": [
            {
                "type": "documentation",
                "display": "Anal dilation guideline (fixture)",
                "url": "https://dilation-cds.org/guideline",
            },
            {
                "type": "citation",
                "citation": "Eberspacher C et al. Front Surg 2021;8:711958.",
                "url": "https://pubmed.ncbi.nlm.nih.gov/34527696/",
            },
        ],
        "extension": [
            *(
                _ext(
                    f"{SD}/pertinent-evidence",
                    valueReference={
                        "reference": f"Observation/{o['id']}",
                        "display": f"Pain score {o.get('valueInteger')} during dilation",
                    },
                )
                for o in evidence
            ),
            _ext(
                f"{SD}/override-reason",
                valueCoding={"system": LOCAL, "code": "pain-resolved", "display": "Pain resolved"},
            ),
            _ext(
                f"{SD}/override-reason",
                valueCoding={"system": LOCAL, "code": "no-display"},
            ),
            _ext(
                "http://hl7.org/fhir/uv/cpg/StructureDefinition/cpg-strengthOfRecommendation",
                valueCodeableConcept={
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/recommendation-strength",
                            "code": "strong",
                        }
                    ]
                },
            ),
        ],
        "action": [
            {
                "id": "refer-colorectal",
                "title": "Refer to colorectal surgery",
                "description": "Referral for professional assessment of dilation pain",
                "resource": {"reference": "ServiceRequest/proposed-referral"},
                "extension": [_ext(f"{SD}/is-recommended", valueBoolean=True)],
            },
            {
                "id": "pause-home",
                "title": "Pause the home program",
                "resource": {"reference": "Task/proposed-pause"},
                "extension": [_ext(f"{SD}/is-recommended", valueBoolean=True)],
            },
        ],
    }


def home_action() -> dict:
    return {
        "id": "home-program",
        "title": "Consider a clinician-prescribed home dilation program",
        "description": "Mild stenosis after hemorrhoidectomy: supervised self-dilation fits.",
        "priority": "routine",
        "selectionBehavior": "any",
        "action": [
            {
                "id": "order-dilator",
                "title": "Prescribe a dilator set",
                "resource": {"reference": "DeviceRequest/proposed-dilator"},
            }
        ],
    }


PROPOSED = [
    {
        "resourceType": "ServiceRequest",
        "id": "proposed-referral",
        "status": "draft",
        "intent": "proposal",
        "subject": {"reference": "Patient/PATIENT"},
        "note": None,
    },
    {"resourceType": "Task", "id": "proposed-pause", "status": "draft", "intent": "proposal"},
    {"resourceType": "DeviceRequest", "id": "proposed-dilator", "status": "draft"},
]


class FixtureApply:
    """Severe pain (an Observation with valueInteger ≥ 7) → escalation; a Condition → home."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def __call__(self, kb, pd, *, subject, data, encounter, practitioner, parameters, now, trigger):
        self.calls.append(
            {
                "pd": pd["id"],
                "subject": subject,
                "data": data,
                "encounter": encounter,
                "practitioner": practitioner,
                "parameters": parameters,
                "trigger": trigger,
            }
        )
        pain = [
            r
            for r in data
            if r.get("resourceType") == "Observation" and (r.get("valueInteger") or 0) >= 7
        ]
        actions = []
        if pain and trigger in ("patient-view", "order-sign"):
            actions.append(escalation_action(pain))
        if any(r.get("resourceType") == "Condition" for r in data) and trigger == "order-select":
            actions.append(home_action())
        rg = {
            "resourceType": "RequestGroup",
            "status": "draft",
            "intent": "proposal",
            "subject": {"reference": subject},
            "action": actions,
        }
        return ApplyResult(rg, [dict(r) for r in PROPOSED])
