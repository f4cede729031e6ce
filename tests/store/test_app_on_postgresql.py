"""The whole service on PostgreSQL: audit, feedback and replay protection shared by workers."""

from __future__ import annotations

import pytest

from service.app import create_app
from service.config import Settings, TrustedIssuer
from tests.cdshooks.conftest import SERVICE, full_prefetch, pain, patient_view
from tests.cdshooks.fixtures import FixtureApply, FixtureKnowledgeBase
from tests.support.jwt_keys import TestClient

pytestmark = pytest.mark.postgres
PATH = f"/cds-services/{SERVICE}"
AUD = "http://localhost" + PATH


@pytest.fixture
def ehr():
    return TestClient()


@pytest.fixture
def workers(pg_schema_url, ehr):
    """Two app instances on one PostgreSQL database, as two gunicorn workers would be."""
    settings = Settings(
        database_url=pg_schema_url,
        external_base_url="http://localhost",  # the tokens' aud: this base + the path
        trusted_issuers=(TrustedIssuer(iss=ehr.iss, jwks=ehr.jwks()),),
        log_level="ERROR",
    )
    apps = [
        create_app(settings, knowledge=FixtureKnowledgeBase(), apply=FixtureApply()) for _ in (1, 2)
    ]
    yield [a.test_client() for a in apps]
    for a in apps:
        a.extensions["cds_store"].close()


def test_a_token_accepted_by_one_worker_is_a_replay_for_the_other(workers, ehr):
    token = {"Authorization": f"Bearer {ehr.token(AUD)}"}
    first = workers[0].post(PATH, json=patient_view(full_prefetch(pain(8))), headers=token)
    second = workers[1].post(PATH, json=patient_view(full_prefetch(pain(8))), headers=token)
    assert (first.status_code, second.status_code) == (200, 401)


def test_invocations_and_feedback_are_stored_in_postgresql(workers, ehr):
    client = workers[0]
    card = client.post(
        PATH,
        json=patient_view(full_prefetch(pain(8))),
        headers={"Authorization": f"Bearer {ehr.token(AUD)}"},
    ).get_json()["cards"][0]
    item = {
        "card": card["uuid"],
        "outcome": "overridden",
        "outcomeTimestamp": "2026-11-25T10:00:00Z",
    }
    fb = PATH + "/feedback"
    for c in workers:  # the same feedback delivered to both workers
        resp = c.post(
            fb,
            json={"feedback": [item]},
            headers={"Authorization": f"Bearer {ehr.token('http://localhost' + fb)}"},
        )
        assert resp.status_code == 200
    store = client.application.extensions["cds_store"]
    assert store.kind == "postgresql"
    assert [r["card_uuid"] for r in store.feedback(SERVICE)] == [card["uuid"]]
    assert store.audit(limit=1)[0]["card_uuids"] == [card["uuid"]]
    assert client.get("/readyz").get_json()["checks"]["store"] is True
