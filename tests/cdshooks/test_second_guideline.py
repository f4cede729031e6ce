"""A second guideline is content only: its PlanDefinition (another canonical base,
`https://example.org/fhir`, a `text/fhirpath` condition, its own ActivityDefinition and local
CodeSystem) goes into the content directory the service loads (`CDS_CONTENT_DIR`), beside the
bundled guideline or instead of it, and becomes its own CDS service with its own cards, source,
discovery entry, CapabilityStatement publisher and preview header. No Python names it.
(docs/content.md, "A second guideline")"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from service.app import create_app
from service.config import Settings

ROOT = Path(__file__).resolve().parents[2]
SECOND = Path(__file__).resolve().parent / "second_guideline"
SECOND_PD = "https://example.org/fhir/PlanDefinition/second-guideline"
SECOND_LOCAL = "https://example.org/fhir/CodeSystem/falls-local"


def app_over(tmp_path: Path, content_dir: Path, cql_dir: Path):
    settings = Settings(
        auth_enabled=False,
        content_dir=content_dir,
        cql_dir=cql_dir,
        sqlite_path=tmp_path / "cds.sqlite3",
        log_level="WARNING",
    )
    return create_app(settings).test_client()


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """The bundled content with the second guideline added in a folder of its own."""
    tmp = tmp_path_factory.mktemp("two-guidelines")
    content = tmp / "content"
    shutil.copytree(ROOT / "plandefinitions", content)
    shutil.copytree(SECOND, content / "second-guideline")
    return app_over(tmp, content, ROOT / "cql")


@pytest.fixture(scope="module")
def alone(tmp_path_factory):
    """The second guideline instead of the bundled one (no CQL at all)."""
    tmp = tmp_path_factory.mktemp("second-alone")
    (tmp / "cql").mkdir()
    return app_over(tmp, SECOND, tmp / "cql")


def patient_view(birth_date: str, patient_id: str = "older") -> dict:
    return {
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/1", "patientId": patient_id},
        "prefetch": {
            "patient": {"resourceType": "Patient", "id": patient_id, "birthDate": birth_date}
        },
    }


def services_of(client) -> dict[str, dict]:
    resp = client.get("/cds-services")
    assert resp.status_code == 200
    return {s["id"]: s for s in resp.get_json()["services"]}


def test_discovery_lists_the_second_guideline_as_its_own_service_beside_the_bundled_ones(both):
    services = services_of(both)
    second = services["second-guideline"]
    assert second["hook"] == "patient-view"
    assert second["title"] == "Second guideline (test fixture): falls review for older adults"
    assert second["extension"]["dilation-cds-plandefinition"] == {
        "url": SECOND_PD,
        "version": "0.1.0",
    }
    assert second["prefetch"] == {"patient": "Patient/{{context.patientId}}"}
    assert "anal-dilation-recommendations" in services


def test_its_card_comes_from_its_own_content(both):
    resp = both.post("/cds-services/second-guideline", json=patient_view("1950-06-01"))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    (card,) = resp.get_json()["cards"]
    assert card["summary"] == "Consider a falls review (age 65 or older)"
    assert card["indicator"] == "info"
    assert card["source"]["label"] == "Example Falls Group guideline, 2026"
    assert card["source"]["url"] == "https://example.org/guidelines/falls"
    (suggestion,) = card["suggestions"]
    assert suggestion["label"] == "Refer for a falls review" and suggestion["isRecommended"]
    (action,) = suggestion["actions"]
    assert action["resource"]["resourceType"] == "ServiceRequest"
    assert action["resource"]["code"]["coding"][0]["system"] == SECOND_LOCAL
    assert card["overrideReasons"] == [
        {
            "system": SECOND_LOCAL,
            "code": "recently-reviewed",
            "display": "Falls review done recently",
        }
    ]


def test_its_condition_decides_when_it_stays_quiet(both):
    resp = both.post("/cds-services/second-guideline", json=patient_view("2000-01-01", "young"))
    assert resp.status_code == 200 and resp.get_json()["cards"] == []


def test_its_artifacts_are_served_under_their_own_canonical_urls(both):
    pd = both.get("/fhir/PlanDefinition/second-guideline").get_json()
    assert pd["url"] == SECOND_PD
    found = both.get(f"/fhir/CodeSystem?url={SECOND_LOCAL}").get_json()
    assert [e["resource"]["id"] for e in found["entry"]] == ["falls-local"]
    metadata = both.get("/fhir/metadata").get_json()
    assert "Example Falls Group" in metadata["publisher"]
    assert "Anal dilation CDS project" in metadata["publisher"]


def test_loaded_alone_the_service_names_only_the_second_guideline(alone):
    assert set(services_of(alone)) == {"second-guideline"}
    resp = alone.post("/cds-services/second-guideline", json=patient_view("1950-06-01"))
    assert resp.get_json()["cards"][0]["source"]["label"] == "Example Falls Group guideline, 2026"
    metadata = alone.get("/fhir/metadata").get_json()
    assert metadata["publisher"] == "Example Falls Group"
    assert metadata["url"] == "https://example.org/fhir/CapabilityStatement/dilation-cds"
    assert "dilation" not in metadata["title"].lower()
    page = alone.get("/preview").get_data(as_text=True)
    assert "Example Falls Group" in page and "Anal dilation" not in page
