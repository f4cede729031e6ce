"""`@requires_client_jwt(face)`: the one client-JWT check in front of the views that need it
(CDS Hooks discovery, invocation and feedback; the FHIR face's $apply).

The token is checked from the request line and headers alone, before the view runs, so before
any body is read; `aud` is the exact URL invoked (CDS_EXTERNAL_BASE_URL + the path); a token is
accepted once (jti replay store); any failure is a bare 401 OperationOutcome with
`WWW-Authenticate: Bearer`.
"""

from __future__ import annotations

import pytest
from flask import Flask, g, request

from service.cdshooks.security import (
    AuthError,
    ClientJwtGuard,
    JwtVerifier,
    Principal,
    install_client_jwt,
    requires_client_jwt,
)
from service.config import Settings, TrustedIssuer
from service.errors import PLAIN, operation_outcome, register_error_handlers
from service.store import open_store
from tests.support.jwt_keys import TestClient
from tests.support.live import LiveServer, post_headers_only

PUBLIC_BASE = "https://cds.example"
FACE = "test-face"
CALLER = Principal(iss="https://ehr.example", sub=None, tenant=None, issuer=None)


class RecordingVerifier:
    """Accepts the token "good" only, and records what happened in `events`."""

    def __init__(self, events: list[str]) -> None:
        self.events = events
        self.audiences: list[str] = []

    def verify(self, authorization: str | None, audience: str) -> Principal:
        self.events.append("token checked")
        self.audiences.append(audience)
        if authorization != "Bearer good":
            raise AuthError("bad token")
        return CALLER


def guarded_app(guard: ClientJwtGuard | None, events: list[str], install: bool = True) -> Flask:
    app = Flask("guarded")
    register_error_handlers(app, PLAIN)
    if install:
        install_client_jwt(app, FACE, guard)

    @app.post("/things/<tid>")
    @requires_client_jwt(FACE)
    def things(tid: str):
        events.append("body read")
        return {"size": len(request.get_data()), "caller": g.principal and g.principal.iss}

    return app


def recording_guard(events: list[str], failures: list[int] | None = None) -> ClientJwtGuard:
    verifier = RecordingVerifier(events)
    return ClientJwtGuard(
        verifier=verifier,
        invoked_url=lambda: PUBLIC_BASE + request.path,
        on_failure=lambda: failures.append(1) if failures is not None else None,
    )


def test_a_bad_token_is_a_bare_401_and_the_view_never_runs():
    events: list[str] = []
    failures: list[int] = []
    client = guarded_app(recording_guard(events, failures), events).test_client()
    resp = client.post("/things/1", data=b"{}", headers={"Authorization": "Bearer bad"})
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"] == "Bearer"
    assert resp.get_json() == operation_outcome("login", "authentication failed")
    assert events == ["token checked"]  # the body was never asked for
    assert failures == [1]


def test_a_good_token_is_checked_before_the_view_reads_the_body():
    events: list[str] = []
    client = guarded_app(recording_guard(events), events).test_client()
    resp = client.post("/things/1", data=b"{}", headers={"Authorization": "Bearer good"})
    assert resp.status_code == 200
    assert resp.get_json() == {"size": 2, "caller": CALLER.iss}
    assert events == ["token checked", "body read"]


def test_aud_is_the_public_base_url_and_the_path_whatever_host_the_request_names():
    events: list[str] = []
    guard = recording_guard(events)
    client = guarded_app(guard, events).test_client()
    client.post("/things/7", headers={"Authorization": "Bearer good", "Host": "evil.example"})
    assert guard.verifier.audiences == [PUBLIC_BASE + "/things/7"]


def test_a_face_that_does_not_verify_jwts_runs_the_view_without_a_caller():
    events: list[str] = []
    resp = guarded_app(None, events).test_client().post("/things/1", data=b"{}")
    assert resp.status_code == 200
    assert resp.get_json() == {"size": 2, "caller": None}


def test_a_face_never_installed_is_refused_never_left_open():
    events: list[str] = []
    resp = guarded_app(None, events, install=False).test_client().post("/things/1")
    assert resp.status_code == 500
    assert events == []


def test_the_401_does_not_wait_for_a_body_that_never_comes():
    events: list[str] = []
    with LiveServer(guarded_app(recording_guard(events), events)) as live:
        status, outcome = post_headers_only(
            live.url, "/things/1", {"Authorization": "Bearer bad"}, content_length=1_000_000
        )
    assert status == 401
    assert outcome == operation_outcome("login", "authentication failed")
    assert events == ["token checked"]


@pytest.fixture
def real_guard(tmp_path) -> tuple[ClientJwtGuard, TestClient]:
    ehr = TestClient()
    settings = Settings(
        sqlite_path=tmp_path / "cds.sqlite3",
        external_base_url=PUBLIC_BASE,
        trusted_issuers=(TrustedIssuer(iss=ehr.iss, jwks=ehr.jwks()),),
        log_level="ERROR",
    )
    verifier = JwtVerifier(settings, open_store(settings))
    return ClientJwtGuard(verifier, lambda: PUBLIC_BASE + request.path), ehr


def test_with_the_real_verifier_a_token_is_accepted_once_and_for_its_own_url(real_guard):
    guard, ehr = real_guard
    events: list[str] = []
    client = guarded_app(guard, events).test_client()
    token = ehr.token(PUBLIC_BASE + "/things/1")
    first = client.post("/things/1", headers={"Authorization": f"Bearer {token}"})
    replay = client.post("/things/1", headers={"Authorization": f"Bearer {token}"})
    other_url = client.post(
        "/things/2",
        headers={"Authorization": f"Bearer {ehr.token(PUBLIC_BASE + '/things/1')}"},
    )
    assert first.status_code == 200 and first.get_json()["caller"] == ehr.iss
    assert replay.status_code == 401
    assert other_url.status_code == 401
