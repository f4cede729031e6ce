"""Feedback: validated, persisted, idempotent; what the Sandbox sends is accepted."""

from __future__ import annotations

import json

from tests.cdshooks.conftest import SERVICE, full_prefetch, pain, patient_view
from tests.support.cds_spec import assert_conforms

PATH = f"/cds-services/{SERVICE}/feedback"
NOW = "2026-11-25T10:00:00Z"


def send(client, auth, feedback, path=PATH):
    return client.post(path, json={"feedback": feedback}, headers=auth(path))


def a_card(client, auth) -> dict:
    hook = f"/cds-services/{SERVICE}"
    return client.post(
        hook, json=patient_view(full_prefetch(pain(8))), headers=auth(hook)
    ).get_json()["cards"][0]


def test_accepting_a_suggestion_is_recorded(client, auth):
    card = a_card(client, auth)
    item = {
        "card": card["uuid"],
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}],
        "outcomeTimestamp": NOW,
    }
    resp = send(client, auth, [item])
    assert resp.status_code == 200
    assert_conforms(PATH, "POST", 200, resp.get_json())
    (row,) = client.application.extensions["cds_store"].feedback(SERVICE)
    assert row["card_uuid"] == card["uuid"]
    assert row["accepted_suggestions"] == [card["suggestions"][0]["uuid"]]


def test_an_override_without_display_as_the_sandbox_sends_it_is_accepted(client, auth):
    card = a_card(client, auth)
    reason = card["overrideReasons"][0]
    item = {
        "card": card["uuid"],
        "outcome": "overridden",
        "overrideReason": {"reason": {"code": reason["code"], "system": reason["system"]}},
        "outcomeTimestamp": NOW,
    }
    assert send(client, auth, [item]).status_code == 200
    (row,) = client.application.extensions["cds_store"].feedback(SERVICE)
    assert row["override_code"] == "pain-resolved"


def test_duplicates_and_batches_are_answered_200_and_stored_once(client, auth):
    item = {"card": "c-1", "outcome": "overridden", "outcomeTimestamp": NOW}
    other = {**item, "card": "c-2"}
    assert send(client, auth, [item, item, other]).status_code == 200
    assert send(client, auth, [item]).status_code == 200
    rows = client.application.extensions["cds_store"].feedback(SERVICE)
    assert sorted(r["card_uuid"] for r in rows) == ["c-1", "c-2"]
    text = client.get("/metrics").get_data(as_text=True)
    assert f'cds_feedback_total{{outcome="overridden",service="{SERVICE}",' in text


def test_invalid_feedback_is_400_naming_the_problem(client, auth):
    cases = [
        ([{"card": "c", "outcome": "maybe", "outcomeTimestamp": NOW}], "outcome"),
        ([{"card": "c", "outcome": "accepted", "outcomeTimestamp": NOW}], "acceptedSuggestions"),
        (
            [{"card": "c", "outcome": "overridden", "outcomeTimestamp": "yesterday"}],
            "outcomeTimestamp",
        ),
        ([{"outcome": "overridden", "outcomeTimestamp": NOW}], "card"),
        ([], "feedback"),
    ]
    for feedback, field in cases:
        resp = send(client, auth, feedback)
        assert resp.status_code == 400, field
        body = resp.get_json()
        assert_conforms(PATH, "POST", 400, body)
        assert field in json.dumps(body)
    assert client.application.extensions["cds_store"].feedback() == []


def test_feedback_for_an_unknown_service_is_404(client, auth):
    path = "/cds-services/nope/feedback"
    item = {"card": "c", "outcome": "overridden", "outcomeTimestamp": NOW}
    resp = send(client, auth, [item], path=path)
    assert resp.status_code == 404
    assert_conforms(path, "POST", 404, resp.get_json())
