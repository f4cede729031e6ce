"""Client authentication: only well-formed, fresh, unreplayed JWTs from trusted issuers pass."""

from __future__ import annotations

import json
import time

import pytest

from service.config import TrustedIssuer
from tests.cdshooks.conftest import SERVICE, full_prefetch, patient_view
from tests.support.fhir_server import FhirTestServer
from tests.support.jwt_keys import TestClient

PATH = f"/cds-services/{SERVICE}"
AUD = "http://localhost" + PATH


def post(client, token: str | None, path: str = PATH):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return client.post(path, json=patient_view(full_prefetch()), headers=headers)


def assert_401(resp) -> None:
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"] == "Bearer"
    body = resp.get_json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["diagnostics"] == "authentication failed"  # no reason leaked


@pytest.mark.parametrize("kid", ["es-1", "rs-1"])
def test_a_fresh_es384_or_rs384_token_for_the_invoked_url_is_accepted(client, ehr, kid):
    assert post(client, ehr.token(AUD, kid=kid)).status_code == 200


def test_discovery_and_feedback_require_a_token_too(client, ehr):
    assert_401(client.get("/cds-services"))
    assert (
        client.get(
            "/cds-services",
            headers={"Authorization": f"Bearer {ehr.token('http://localhost/cds-services')}"},
        ).status_code
        == 200
    )
    assert_401(client.post(PATH + "/feedback", json={"feedback": []}))


def test_a_missing_or_non_bearer_authorization_is_rejected(client):
    assert_401(post(client, None))
    assert_401(client.post(PATH, json={}, headers={"Authorization": "Basic dXNlcjpwdw=="}))


def test_a_token_for_another_url_is_rejected(client, ehr):
    assert_401(post(client, ehr.token("http://localhost/cds-services")))
    assert_401(post(client, ehr.token("https://other.example" + PATH)))


def test_an_expired_token_is_rejected(client, ehr):
    assert_401(post(client, ehr.token(AUD, iat_offset=-400, lifetime=300)))


def test_small_clock_skew_is_tolerated(client, ehr):
    assert post(client, ehr.token(AUD, iat_offset=-302, lifetime=300)).status_code == 200


def test_a_token_issued_in_the_future_is_rejected(client, ehr):
    assert_401(post(client, ehr.token(AUD, iat_offset=120)))


def test_a_lifetime_over_five_minutes_is_rejected(client, ehr):
    assert_401(post(client, ehr.token(AUD, lifetime=3600)))


def test_a_replayed_jti_is_rejected(client, ehr):
    token = ehr.token(AUD)
    assert post(client, token).status_code == 200
    assert_401(post(client, token))
    assert_401(post(client, ehr.token(AUD, jti=json.loads(_payload(token))["jti"])))


def test_replay_is_detected_across_workers_sharing_the_store(make_app, ehr):
    """Two app instances (two gunicorn workers) on one database see each other's jti."""
    token = ehr.token(AUD)
    assert post(make_app().test_client(), token).status_code == 200
    assert_401(post(make_app().test_client(), token))


@pytest.mark.parametrize("claim", ["iss", "aud", "exp", "iat", "jti"])
def test_every_required_claim_must_be_present(client, ehr, claim):
    assert_401(post(client, ehr.token(AUD, omit=(claim,))))


# exp/iat/nbf are NumericDates (RFC 7519 §2): JSON numbers of seconds. Anything else, in a
# correctly signed token, is a bad token (401), never a crash in the arithmetic on them.
NOT_NUMERIC_DATES = {
    "a string": lambda now: str(now),
    "a string of digits in the past": lambda now: "123",
    "true": lambda now: True,
    "false": lambda now: False,
    "null": lambda now: None,
    "a list": lambda now: [now],
    "an object": lambda now: {"t": now},
    "a huge integer": lambda now: 10**40,
    "a huge negative integer": lambda now: -(10**40),
    "a huge float": lambda now: 1e300,
}


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
@pytest.mark.parametrize("value", NOT_NUMERIC_DATES, ids=list(NOT_NUMERIC_DATES))
def test_a_signed_token_whose_dates_are_not_numbers_is_rejected(client, ehr, claim, value):
    now = int(time.time())
    assert_401(post(client, ehr.token(AUD, claims={claim: NOT_NUMERIC_DATES[value](now)})))


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1" * 5000, "1e400"])
def test_a_signed_token_with_a_non_finite_or_endless_number_date_is_rejected(
    client, ehr, claim, literal
):
    now = int(time.time())
    claims = {"iss": ehr.iss, "aud": AUD, "iat": now, "exp": now + 60, "jti": str(time.time())}
    text = json.dumps({**claims, claim: "LITERAL"}).replace('"LITERAL"', literal)
    assert_401(post(client, ehr.signed_payload(text)))


def test_integer_and_fractional_numeric_dates_are_accepted(client, ehr):
    now = time.time()
    assert post(client, ehr.token(AUD, claims={"iat": now, "exp": now + 60})).status_code == 200
    token = ehr.token(AUD, claims={"nbf": int(now) - 1})
    assert post(client, token).status_code == 200


def test_an_unknown_kid_is_rejected(client, ehr):
    stranger = TestClient(ehr.iss)
    stranger.add_key("unknown-kid")
    assert_401(post(client, stranger.token(AUD, kid="unknown-kid")))


def test_a_token_signed_by_another_key_under_a_known_kid_is_rejected(client, ehr):
    impostor = TestClient(ehr.iss)  # same kids, different keys
    assert_401(post(client, impostor.token(AUD)))


def test_hmac_and_none_algorithms_are_rejected(client, ehr):
    assert_401(post(client, ehr.hmac_token(AUD)))
    assert_401(post(client, ehr.none_token(AUD)))


def test_an_issuer_not_on_the_allow_list_is_rejected(client):
    outsider = TestClient("https://untrusted.example")
    assert_401(post(client, outsider.token(AUD)))


def test_a_wrong_typ_header_is_rejected(client, ehr):
    assert_401(post(client, ehr.token(AUD, header={"typ": "at+jwt"})))


def test_the_external_base_url_is_the_audience_behind_a_proxy(make_app, ehr):
    client = make_app(external_base_url="https://cds.hospital.example/dilation").test_client()
    assert (
        post(client, ehr.token("https://cds.hospital.example/dilation" + PATH)).status_code == 200
    )
    assert_401(post(client, ehr.token(AUD)))


def test_keys_are_fetched_from_an_allow_listed_jku_and_rotated(make_app):
    remote = TestClient("https://remote-ehr.example")
    with FhirTestServer() as srv:
        jku = srv.origin + "/.well-known/jwks.json"
        srv.static["/.well-known/jwks.json"] = remote.jwks()
        client = make_app(
            trusted_issuers=(TrustedIssuer(iss=remote.iss, jku_allowlist=(jku,)),),
            jwks_min_refresh_seconds=0,
        ).test_client()
        assert post(client, remote.token(AUD, header={"jku": jku})).status_code == 200
        remote.add_key("es-2")  # the client rotates its key and publishes it
        srv.static["/.well-known/jwks.json"] = remote.jwks()
        assert post(client, remote.token(AUD, kid="es-2", header={"jku": jku})).status_code == 200


def test_a_jku_not_on_the_allow_list_is_never_fetched(make_app):
    remote = TestClient("https://remote-ehr.example")
    with FhirTestServer() as srv:
        srv.static["/evil/jwks.json"] = remote.jwks()
        client = make_app(
            trusted_issuers=(
                TrustedIssuer(iss=remote.iss, jku_allowlist=("https://good.example/jwks.json",)),
            )
        ).test_client()
        assert_401(post(client, remote.token(AUD, header={"jku": srv.origin + "/evil/jwks.json"})))
        assert srv.requests == []


def test_a_locally_configured_jwks_file_is_trusted_instead_of_the_tokens_jku(make_app, tmp_path):
    """The Sandbox sends a remote jku; an offline deployment configures its keys as a file."""
    sandbox = TestClient("https://sandbox.cds-hooks.org")
    path = tmp_path / "sandbox-jwks.json"
    path.write_text(json.dumps(sandbox.jwks()))
    client = make_app(
        trusted_issuers=(TrustedIssuer(iss=sandbox.iss, jwks_file=str(path)),)
    ).test_client()
    token = sandbox.token(
        AUD, header={"jku": "https://sandbox.cds-hooks.org/.well-known/jwks.json"}
    )
    assert post(client, token).status_code == 200
    sandbox.add_key("es-2")
    time.sleep(0.01)
    path.write_text(json.dumps(sandbox.jwks()))
    import os

    os.utime(path, (time.time() + 5, time.time() + 5))
    assert post(client, sandbox.token(AUD, kid="es-2")).status_code == 200


def test_development_mode_needs_no_token_and_says_so_in_the_log(make_app, capsys):
    client = make_app(auth_enabled=False).test_client()
    warning = [
        json.loads(line) for line in capsys.readouterr().err.splitlines() if "CDS_AUTH" in line
    ]
    assert warning and warning[0]["level"] == "WARNING"
    assert post(client, None).status_code == 200


def test_tokens_never_reach_the_logs(client, ehr, capsys):
    token = ehr.token(AUD)
    post(client, token)
    post(client, token)  # replay: logged as a failure
    captured = capsys.readouterr()
    assert "authentication failed" in captured.err  # the log was captured
    assert token not in captured.err and token.split(".")[1] not in captured.err


def _payload(token: str) -> str:
    import base64

    part = token.split(".")[1]
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode()
