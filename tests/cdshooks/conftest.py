"""Fixtures of the CDS Hooks tests: an app over the fixture content, a trusted test client."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from service.app import create_app
from service.config import Settings, TrustedIssuer
from tests.cdshooks.fixtures import FixtureApply, FixtureKnowledgeBase
from tests.support.jwt_keys import TestClient

SERVICE = "fixture-dilation"


@pytest.fixture(scope="session")
def ehr() -> TestClient:
    return TestClient()


# The public base URL of the service under test (CDS_EXTERNAL_BASE_URL): the JWT `aud` names it
# whatever Host a request arrives with; Flask's test client calls http://localhost.
PUBLIC_BASE = "http://localhost"


@pytest.fixture
def settings(tmp_path, ehr) -> Settings:
    return Settings(
        sqlite_path=tmp_path / "cds.sqlite3",
        external_base_url=PUBLIC_BASE,
        trusted_issuers=(TrustedIssuer(iss=ehr.iss, jwks=ehr.jwks(), fhir_servers=()),),
        allow_private_fhir_addresses=True,
        allow_http_fhir=True,
        fhir_server_allowlist=("http://127.0.0.1",),
        fhir_retries=1,
        fhir_read_timeout=2.0,
        log_level="WARNING",
    )


@pytest.fixture
def fake_apply() -> FixtureApply:
    return FixtureApply()


@pytest.fixture
def make_app(settings, fake_apply):
    def build(**overrides):
        s = dataclasses.replace(settings, **overrides)
        return create_app(s, knowledge=FixtureKnowledgeBase(), apply=fake_apply)

    return build


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def auth(ehr):
    """Authorization header for a call to `path` (aud = the public base URL + path)."""

    def header(path: str, **kw) -> dict:
        return {"Authorization": f"Bearer {ehr.token(PUBLIC_BASE + path, **kw)}"}

    return header


def patient_view(prefetch: dict | None = None, **extra) -> dict:
    body = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/example", "patientId": "p1"},
        **extra,
    }
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body


def patient() -> dict:
    return {"resourceType": "Patient", "id": "p1", "gender": "female"}


def pain(value: int, oid: str = "obs-1") -> dict:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "valueInteger": value,
    }


def searchset(*resources: dict) -> dict:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in resources],
    }


def full_prefetch(*observations: dict) -> dict:
    """Every key the fixture service asks for."""
    return {
        "patient": patient(),
        "Condition": searchset(),
        "Observation": searchset(*observations),
    }
