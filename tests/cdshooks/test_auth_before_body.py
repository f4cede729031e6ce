"""The client JWT is checked before the request body is read, on every authenticated endpoint.

A sync worker that waits for a body is a worker that serves nobody else: a client without a valid
token must get its 401 at once, from the headers alone, however large a body it announces and
even if it never sends it. The `aud` check needs only the URL called, never the body. (The FHIR
face's $apply: tests/fhirapi/test_apply_auth.py.)
"""

from __future__ import annotations

import json

import pytest

from tests.cdshooks.conftest import PUBLIC_BASE, SERVICE, full_prefetch, pain, patient_view
from tests.support.live import LiveServer, post_headers_only

INVOKE = f"/cds-services/{SERVICE}"
FEEDBACK = f"/cds-services/{SERVICE}/feedback"
ANNOUNCED = 1_000_000  # under the 5 MiB request limit: only the body's absence keeps it unread


@pytest.fixture
def live(make_app):
    with LiveServer(make_app()) as server:
        yield server


def announce_and_withhold(live, path: str, authorization: str | None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    return post_headers_only(live.url, path, headers, content_length=ANNOUNCED)


@pytest.mark.parametrize("path", [INVOKE, FEEDBACK], ids=["invoke", "feedback"])
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer not-a-jwt", "Basic dXNlcjpwYXNz"],
    ids=["no Authorization", "a malformed token", "not a bearer token"],
)
def test_a_cds_hooks_call_without_a_valid_token_is_refused_before_its_body_arrives(
    live, path, authorization
):
    status, outcome = announce_and_withhold(live, path, authorization)
    assert status == 401
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "login"


def test_a_token_for_another_url_is_refused_before_the_body_arrives(live, ehr):
    """The aud check needs only the URL called: a valid token for the feedback endpoint, sent
    to the hook endpoint, is refused from the headers alone."""
    token = ehr.token(PUBLIC_BASE + FEEDBACK)
    status, _ = announce_and_withhold(live, INVOKE, f"Bearer {token}")
    assert status == 401


def test_an_authenticated_call_still_reads_and_answers_its_body(client, auth):
    resp = client.post(INVOKE, json=patient_view(full_prefetch(pain(8))), headers=auth(INVOKE))
    assert resp.status_code == 200
    assert resp.get_json()["cards"][0]["indicator"] == "critical"


def test_an_authenticated_call_with_too_large_a_body_is_a_413(make_app, auth):
    client = make_app(max_request_bytes=1000).test_client()
    body = json.dumps(patient_view(full_prefetch(*[pain(1, f"o{i}") for i in range(50)])))
    resp = client.post(INVOKE, data=body, content_type="application/json", headers=auth(INVOKE))
    assert resp.status_code == 413
    assert resp.get_json()["resourceType"] == "OperationOutcome"
