"""With client JWTs verified, `aud` is checked against CDS_EXTERNAL_BASE_URL, never the Host header.

A client chooses the Host header it sends. Were `aud` built from it, a token minted for another
deployment (aud = that deployment's URL) would be accepted here by sending that deployment's host
name. So the service refuses to start with JWTs on and no CDS_EXTERNAL_BASE_URL, and checks
every token against that one public URL, whatever Host a request arrives with.
"""

from __future__ import annotations

import pytest

from benchmarks._server import free_port, start_gunicorn
from service.app import create_app
from service.config import ConfigError, Settings
from tests.cdshooks.conftest import SERVICE, full_prefetch, pain, patient_view

PATH = f"/cds-services/{SERVICE}"
PUBLIC = "https://cds.hospital.example"
OTHER = "https://cds.other-hospital.example"  # another deployment trusting the same EHR


# -- start-up --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "verification",
    [{}, {"auth_enabled": False, "fhir_auth_enabled": True}],
    ids=["CDS_AUTH=jwt", "CDS_FHIR_AUTH=jwt only"],
)
def test_start_up_is_refused_with_jwts_verified_and_no_external_base_url(make_app, verification):
    with pytest.raises(ConfigError, match=r"CDS_EXTERNAL_BASE_URL is required .* Host header"):
        make_app(external_base_url=None, **verification)


def test_development_mode_needs_no_external_base_url(make_app):
    """`make run` (CDS_AUTH=off) keeps working as it is."""
    app = make_app(external_base_url=None, auth_enabled=False)
    assert app.test_client().get("/cds-services").status_code == 200


def test_the_deployed_entry_point_reports_the_setting_without_a_stack_trace(monkeypatch):
    """`service.app:create_app()` (gunicorn) reads the environment; a configuration error ends
    it with the message alone (SystemExit: exit status 1, no traceback)."""
    for name in ("CDS_AUTH", "CDS_FHIR_AUTH", "CDS_EXTERNAL_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SystemExit) as exit_:
        create_app()
    assert str(exit_.value.code).startswith("configuration error, the service does not start")
    assert "CDS_EXTERNAL_BASE_URL" in str(exit_.value.code)


@pytest.mark.slow
def test_gunicorn_does_not_start_with_jwts_on_and_no_external_base_url(tmp_path):
    env = {
        "CDS_AUTH": "jwt",
        "CDS_EXTERNAL_BASE_URL": None,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
    with pytest.raises(SystemExit) as exit_:
        start_gunicorn(free_port(), env, tmp_path / "error.log")
    log = (tmp_path / "error.log").read_text()
    assert "CDS_EXTERNAL_BASE_URL is required" in str(exit_.value)
    assert "Traceback" not in log


@pytest.mark.parametrize("value", ["cds.hospital.example", "ftp://cds.example", "https://x/?a=1"])
def test_an_external_base_url_that_is_not_an_absolute_http_url_stops_start_up(value):
    with pytest.raises(ConfigError, match="CDS_EXTERNAL_BASE_URL"):
        Settings.from_env({"CDS_EXTERNAL_BASE_URL": value})


# -- the audience --------------------------------------------------------------------------------
@pytest.fixture
def client(make_app):
    return make_app(external_base_url=PUBLIC).test_client()


def call(client, token: str, host: str):
    return client.post(
        PATH,
        json=patient_view(full_prefetch(pain(8))),
        headers={"Authorization": f"Bearer {token}"},
        base_url=f"http://{host}",
    )


def test_a_token_for_the_external_url_is_accepted_whatever_host_the_request_names(client, ehr):
    for host in ("cds-internal:8080", "cds.other-hospital.example", "localhost"):
        assert call(client, ehr.token(PUBLIC + PATH), host).status_code == 200, host


def test_a_token_minted_for_another_deployment_is_refused_even_with_its_host_spoofed(client, ehr):
    resp = call(client, ehr.token(OTHER + PATH), "cds.other-hospital.example")
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"] == "Bearer"


def test_fhir_apply_checks_aud_against_the_external_url_too(make_app, ehr):
    """The FHIR face's $apply uses the same audience (its own path under the public base)."""
    apply = "/fhir/PlanDefinition/$apply"
    client = make_app(external_base_url=PUBLIC).test_client()

    def post(audience: str):
        return client.post(
            apply,
            data="{}",
            content_type="application/fhir+json",
            headers={"Authorization": f"Bearer {ehr.token(audience + apply)}"},
            base_url="http://cds.other-hospital.example",
        )

    assert post(OTHER).status_code == 401
    assert post(PUBLIC).status_code == 400  # authenticated: then the empty Parameters is refused
