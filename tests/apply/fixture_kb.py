"""The fixture knowledge base and patients shared by tests/apply, tests/fhirapi, tests/knowledge."""

from __future__ import annotations

import datetime as dt
import shutil
from functools import lru_cache
from pathlib import Path

from service.apply import load_knowledge
from service.knowledge import KnowledgeBase

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "content"
#: Evaluation time of the tests: today at noon UTC (the data below is relative to it, so requests
#: through the REST face, which evaluate at the real time, see the same picture).
NOW = dt.datetime.now(dt.UTC).replace(hour=12, minute=0, second=0, microsecond=0)
BASE = "https://dilation-cds.org/fhir"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"


def assemble(target: Path) -> tuple[Path, Path]:
    """Copy the fixture tree plus the repository's FHIRHelpers into `target`."""
    cql = target / "cql"
    shutil.copytree(FIXTURE / "cql", cql)
    shutil.copy(ROOT / "cql" / "FHIRHelpers.cql", cql / "FHIRHelpers.cql")
    shutil.copy(ROOT / "cql" / "elm" / "FHIRHelpers.json", cql / "elm" / "FHIRHelpers.json")
    content = target / "plandefinitions"
    shutil.copytree(FIXTURE / "plandefinitions", content)
    return content, cql


@lru_cache(maxsize=1)
def fixture_kb() -> KnowledgeBase:
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="apply-fixture-"))
    content, cql = assemble(tmp)
    return load_knowledge(content_dir=content, cql_dir=cql)


def day(days_ago: int) -> str:
    return (NOW - dt.timedelta(days=days_ago)).isoformat().replace("+00:00", "Z")


def patient(pid: str, *, gender: str = "female", birth: str = "1970-04-02", name: str = "Ada"):
    return {
        "resourceType": "Patient",
        "id": pid,
        "gender": gender,
        "birthDate": birth,
        "name": [{"family": "Test", "given": [name]}],
    }


def stenosis(pid: str, cid: str = "c1") -> dict:
    return {
        "resourceType": "Condition",
        "id": cid,
        "subject": {"reference": f"Patient/{pid}"},
        "code": {
            "coding": [
                {
                    "system": SNOMED,
                    "code": "64153009",
                    "display": "Stenosis of anal canal (disorder)",
                }
            ]
        },
        "onsetDateTime": "2026-03-01",
    }


def pain(pid: str, score: int, days_ago: int, oid: str = "o1") -> dict:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "subject": {"reference": f"Patient/{pid}"},
        "code": {"coding": [{"system": LOINC, "code": "72514-3", "display": "Pain score 0-10"}]},
        "effectiveDateTime": day(days_ago),
        "valueInteger": score,
    }


def bundle(*resources: dict) -> dict:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }


def severe_pain_patient(pid: str = "pro") -> dict:
    """Adult woman, anal stenosis, pain 8/10 five days ago: professional dilation applies."""
    return bundle(patient(pid), stenosis(pid), pain(pid, 8, 5))


def mild_pain_patient(pid: str = "home", *, gender: str = "male", birth: str = "1980-01-01"):
    """Adult with anal stenosis and pain 3/10: the home program applies."""
    return bundle(
        patient(pid, gender=gender, birth=birth, name="Bo"), stenosis(pid), pain(pid, 3, 2)
    )


def healthy_patient(pid: str = "none") -> dict:
    """No stenosis, an old severe pain score: nothing applies."""
    return bundle(patient(pid), pain(pid, 9, 90))
