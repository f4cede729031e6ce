"""NUL characters in request strings, on SQLite and on PostgreSQL (whose text cannot hold them).

Before: PostgreSQL mode answered 500 (feedback, a token's jti) or answered without writing the
audit row (a hookInstance or hook with a NUL). Now every request is answered as it would be
without the NUL (400 where the field's value is invalid anyway), the audit row is written, and
stored text carries each NUL as the six characters \\u0000 (service/store.py).
"""

from __future__ import annotations

import uuid

import pytest

from service.app import create_app
from service.config import Settings, TrustedIssuer
from tests.cdshooks.conftest import SERVICE, full_prefetch, pain, patient_view
from tests.cdshooks.fixtures import FixtureApply, FixtureKnowledgeBase
from tests.support.jwt_keys import TestClient

PATH = f"/cds-services/{SERVICE}"
FEEDBACK = PATH + "/feedback"
BASE = "http://localhost"
NOW = "2026-11-25T10:00:00Z"


@pytest.fixture(scope="module")
def ehr():
    return TestClient()


@pytest.fixture
def client(store_factory, ehr, tmp_path):
    settings = Settings(
        sqlite_path=tmp_path / "unused.sqlite3",
        external_base_url=BASE,
        trusted_issuers=(TrustedIssuer(iss=ehr.iss, jwks=ehr.jwks()),),
        log_level="ERROR",
    )
    app = create_app(
        settings, knowledge=FixtureKnowledgeBase(), apply=FixtureApply(), store=store_factory()
    )
    return app.test_client()


def headers(ehr, path: str, **kw) -> dict:
    return {"Authorization": f"Bearer {ehr.token(BASE + path, **kw)}"}


def store(client):
    return client.application.extensions["cds_store"]


def test_a_hook_instance_with_a_nul_is_400_and_still_audited(client, ehr):
    body = patient_view(full_prefetch(pain(8)), hookInstance="not-a-uuid\x00")
    resp = client.post(PATH, json=body, headers=headers(ehr, PATH))
    assert resp.status_code == 400
    (row,) = store(client).audit()
    assert (row["status"], row["hook_instance"]) == (400, "not-a-uuid\\u0000")


def test_a_hook_name_with_a_nul_is_400_and_still_audited(client, ehr):
    body = patient_view(full_prefetch(pain(8)), hook="patient-view\x00")
    resp = client.post(PATH, json=body, headers=headers(ehr, PATH))
    assert resp.status_code == 400
    (row,) = store(client).audit()
    assert (row["status"], row["hook"]) == (400, "patient-view\\u0000")


def test_a_token_whose_jti_has_a_nul_is_accepted_once_and_its_replay_refused(client, ehr):
    token = headers(ehr, PATH, jti=f"{uuid.uuid4()}\x00")
    first = client.post(PATH, json=patient_view(full_prefetch(pain(8))), headers=token)
    again = client.post(PATH, json=patient_view(full_prefetch(pain(8))), headers=token)
    assert (first.status_code, again.status_code) == (200, 401)
    assert [r["status"] for r in store(client).audit()] == [200]


def test_prefetch_strings_with_nul_characters_are_answered_normally(client, ehr):
    observation = {**pain(8), "note": [{"text": "severe\x00pain"}]}
    resp = client.post(
        PATH, json=patient_view(full_prefetch(observation)), headers=headers(ehr, PATH)
    )
    assert resp.status_code == 200 and resp.get_json()["cards"]
    assert store(client).audit()[0]["status"] == 200


def test_feedback_text_with_nul_characters_is_stored(client, ehr):
    resp = client.post(PATH, json=patient_view(full_prefetch(pain(8))), headers=headers(ehr, PATH))
    card = resp.get_json()["cards"][0]
    reason = dict(card["overrideReasons"][0], display="Pain\x00resolved")
    item = {
        "card": card["uuid"],
        "outcome": "overridden",
        "overrideReason": {"reason": reason, "userComment": "no\x00pain"},
        "outcomeTimestamp": NOW,
    }
    resp = client.post(FEEDBACK, json={"feedback": [item]}, headers=headers(ehr, FEEDBACK))
    assert resp.status_code == 200
    (row,) = store(client).feedback(SERVICE)
    assert (row["user_comment"], row["override_display"]) == (
        "no\\u0000pain",
        "Pain\\u0000resolved",
    )


def test_feedback_for_a_card_uuid_with_a_nul_is_400_not_a_card_issued(client, ehr):
    resp = client.post(PATH, json=patient_view(full_prefetch(pain(8))), headers=headers(ehr, PATH))
    card = resp.get_json()["cards"][0]["uuid"]
    item = {"card": card + "\x00", "outcome": "overridden", "outcomeTimestamp": NOW}
    resp = client.post(FEEDBACK, json={"feedback": [item]}, headers=headers(ehr, FEEDBACK))
    assert resp.status_code == 400
    assert store(client).feedback() == []
