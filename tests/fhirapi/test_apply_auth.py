"""Client authentication of the FHIR face: $apply receives patient data, so it requires the same
JWT as CDS Hooks (aud = the exact URL invoked); knowledge reads and metadata stay public."""

from __future__ import annotations

import json

import pytest

from service.app import create_app
from service.config import ConfigError, Settings, TrustedIssuer
from tests.apply.fixture_kb import BASE, mild_pain_patient, severe_pain_patient
from tests.support.jwt_keys import TestClient

FHIR_JSON = "application/fhir+json"
PLAN_APPLY = "/fhir/PlanDefinition/demo-dilation/$apply"
ACTIVITY_APPLY = "/fhir/ActivityDefinition/demo-home-program/$apply"


@pytest.fixture(scope="module")
def ehr() -> TestClient:
    return TestClient()


def make_app(tmp_path, kb, ehr, **overrides):
    settings = Settings(
        **{
            "sqlite_path": tmp_path / "cds.sqlite3",
            "external_base_url": "http://localhost",  # the public URL tokens name in aud
            "trusted_issuers": (TrustedIssuer(iss=ehr.iss, jwks=ehr.jwks()),),
            "log_level": "ERROR",
            **overrides,
        }
    )
    return create_app(settings, knowledge=kb).test_client()


@pytest.fixture
def client(tmp_path, kb, ehr):
    return make_app(tmp_path, kb, ehr)


def body(patient: str = "pro") -> str:
    return json.dumps(
        {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "subject", "valueString": f"Patient/{patient}"},
                {"name": "data", "resource": severe_pain_patient(patient)},
            ],
        }
    )


def post(client, path: str, token: str | None, data: str | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return client.post(path, data=data or body(), content_type=FHIR_JSON, headers=headers)


def assert_401(resp) -> None:
    assert resp.status_code == 401, resp.get_data(as_text=True)
    assert resp.headers["WWW-Authenticate"] == "Bearer"
    assert resp.mimetype == FHIR_JSON
    outcome = resp.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"] == [
        {"severity": "error", "code": "login", "diagnostics": "authentication failed"}
    ]  # no reason leaked


@pytest.mark.parametrize("path", [PLAN_APPLY, ACTIVITY_APPLY])
def test_apply_with_a_token_for_the_exact_invoked_url_is_answered(client, ehr, path):
    resp = post(client, path, ehr.token("http://localhost" + path))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["resourceType"] in {"CarePlan", "ServiceRequest"}


def test_type_level_apply_is_guarded_too(client, ehr):
    path = "/fhir/PlanDefinition/$apply"
    typed = json.dumps(
        {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "url", "valueUri": f"{BASE}/PlanDefinition/demo-dilation"},
                {"name": "subject", "valueString": "home"},
                {"name": "data", "resource": mild_pain_patient("home")},
            ],
        }
    )
    assert_401(post(client, path, None, typed))
    assert post(client, path, ehr.token("http://localhost" + path), typed).status_code == 200
    activity = "/fhir/ActivityDefinition/$apply"
    assert_401(post(client, activity, ehr.token("http://localhost" + path), typed))


@pytest.mark.parametrize("path", [PLAN_APPLY, ACTIVITY_APPLY])
def test_apply_without_a_token_is_a_401_before_the_body_or_the_artifact_is_looked_at(client, path):
    assert_401(post(client, path, None))
    assert_401(post(client, path, None, data="not json"))
    assert_401(post(client, "/fhir/PlanDefinition/does-not-exist/$apply", None))
    assert_401(
        client.post(PLAN_APPLY, data=body(), headers={"Authorization": "Basic dXNlcjpwdw=="})
    )


def test_a_token_signed_for_another_url_is_rejected(client, ehr):
    assert_401(post(client, PLAN_APPLY, ehr.token("http://localhost" + ACTIVITY_APPLY)))
    assert_401(post(client, PLAN_APPLY, ehr.token("http://localhost/cds-services")))
    assert_401(post(client, PLAN_APPLY, ehr.token("https://other.example" + PLAN_APPLY)))


def test_a_replayed_jti_is_rejected(client, ehr):
    token = ehr.token("http://localhost" + PLAN_APPLY, jti="apply-once")
    assert post(client, PLAN_APPLY, token).status_code == 200
    assert_401(post(client, PLAN_APPLY, token))


def test_untrusted_or_forged_tokens_are_rejected(client, ehr):
    aud = "http://localhost" + PLAN_APPLY
    assert_401(post(client, PLAN_APPLY, TestClient("https://stranger.example").token(aud)))
    assert_401(post(client, PLAN_APPLY, ehr.hmac_token(aud)))
    assert_401(post(client, PLAN_APPLY, ehr.token(aud, iat_offset=-400)))


def test_behind_a_proxy_aud_is_the_external_url(tmp_path, kb, ehr):
    external = "https://cds.hospital.example/prefix"
    client = make_app(tmp_path, kb, ehr, external_base_url=external)
    assert_401(post(client, PLAN_APPLY, ehr.token("http://localhost" + PLAN_APPLY)))
    assert post(client, PLAN_APPLY, ehr.token(external + PLAN_APPLY)).status_code == 200


def test_knowledge_reads_searches_and_metadata_stay_public(client):
    assert client.get("/fhir/metadata").status_code == 200
    assert client.get("/fhir/PlanDefinition/demo-dilation").status_code == 200
    assert client.get("/fhir/PlanDefinition?status=active").status_code == 200
    assert client.get("/fhir/PlanDefinition/demo-dilation/$data-requirements").status_code == 200


def test_the_capability_statement_advertises_the_security(tmp_path, kb, ehr, client):
    security = client.get("/fhir/metadata").get_json()["rest"][0]["security"]
    assert security["cors"] is True
    assert "$apply" in security["description"] and "Bearer" in security["description"]
    dev = make_app(tmp_path, kb, ehr, auth_enabled=False)
    assert "disabled" in dev.get("/fhir/metadata").get_json()["rest"][0]["security"]["description"]


def test_the_fhir_setting_follows_cds_auth_unless_given():
    assert Settings.from_env({}).fhir_auth_required is True
    assert Settings.from_env({"CDS_AUTH": "off"}).fhir_auth_required is False  # `make run`
    assert Settings.from_env({"CDS_AUTH": "off", "CDS_FHIR_AUTH": "jwt"}).fhir_auth_required
    assert not Settings.from_env({"CDS_FHIR_AUTH": "off"}).fhir_auth_required
    with pytest.raises(ConfigError):
        Settings.from_env({"CDS_FHIR_AUTH": "maybe"})


def test_development_mode_leaves_apply_open_and_can_still_require_it_for_fhir(tmp_path, kb, ehr):
    dev = make_app(tmp_path, kb, ehr, auth_enabled=False)
    assert post(dev, PLAN_APPLY, None).status_code == 200
    strict = make_app(tmp_path, kb, ehr, auth_enabled=False, fhir_auth_enabled=True)
    assert_401(post(strict, PLAN_APPLY, None))
    assert post(strict, PLAN_APPLY, ehr.token("http://localhost" + PLAN_APPLY)).status_code == 200
    assert strict.post("/cds-services/none", json={}).status_code != 401  # CDS Hooks stays off


def test_cds_fhir_auth_off_opens_apply_only_while_cds_hooks_keep_requiring_a_token(
    tmp_path, kb, ehr
):
    client = make_app(tmp_path, kb, ehr, fhir_auth_enabled=False)
    assert post(client, PLAN_APPLY, None).status_code == 200
    assert client.get("/cds-services").status_code == 401


def test_apply_without_a_valid_token_is_refused_before_its_body_arrives(tmp_path, kb, ehr):
    """A sync worker must not wait for the patient data of a client it will refuse: the 401
    comes from the headers alone, though the body announced is never sent."""
    from tests.support.live import LiveServer, post_headers_only

    client = make_app(tmp_path, kb, ehr)
    with LiveServer(client.application) as live:
        for headers in ({}, {"Authorization": "Bearer not-a-jwt"}):
            status, outcome = post_headers_only(
                live.url, PLAN_APPLY, {"Content-Type": FHIR_JSON, **headers}, 1_000_000
            )
            assert status == 401
            assert outcome["issue"][0]["code"] == "login"
