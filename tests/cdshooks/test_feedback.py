"""Feedback: validated, persisted, idempotent; what the Sandbox sends is accepted."""

from __future__ import annotations

import json

import pytest

from service.cdshooks.schemas import MAX_FEEDBACK_ITEMS, MAX_USER_COMMENT
from tests.cdshooks.conftest import SERVICE, full_prefetch, pain, patient_view, searchset
from tests.support.cds_spec import assert_conforms

PATH = f"/cds-services/{SERVICE}/feedback"
NOW = "2026-11-25T10:00:00Z"


def send(client, auth, feedback, path=PATH):
    return client.post(path, json={"feedback": feedback}, headers=auth(path))


def a_card(client, auth, patient_id: str = "p1") -> dict:
    """A card the service answers (severe pain) for Patient/`patient_id`."""
    hook = f"/cds-services/{SERVICE}"
    prefetch = full_prefetch(pain(8))
    if patient_id != "p1":
        prefetch = {
            "patient": {"resourceType": "Patient", "id": patient_id},
            "Condition": searchset(),
            "Observation": searchset(
                {**pain(8), "subject": {"reference": f"Patient/{patient_id}"}}
            ),
        }
    body = patient_view(prefetch)
    body["context"]["patientId"] = patient_id
    resp = client.post(hook, json=body, headers=auth(hook))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()["cards"][0]


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
    first, second = a_card(client, auth, "p1")["uuid"], a_card(client, auth, "p2")["uuid"]
    item = {"card": first, "outcome": "overridden", "outcomeTimestamp": NOW}
    other = {**item, "card": second}
    assert send(client, auth, [item, item, other]).status_code == 200
    assert send(client, auth, [item]).status_code == 200
    rows = client.application.extensions["cds_store"].feedback(SERVICE)
    assert sorted(r["card_uuid"] for r in rows) == sorted([first, second])
    text = client.get("/metrics").get_data(as_text=True)
    assert f'cds_feedback_total{{outcome="overridden",service="{SERVICE}"}}' in text


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


def overridden(card: str, **reason) -> dict:
    item = {"card": card, "outcome": "overridden", "outcomeTimestamp": NOW}
    if reason:
        item["overrideReason"] = reason
    return item


def test_feedback_naming_a_card_the_service_never_issued_is_refused_whole(client, auth):
    issued = a_card(client, auth)["uuid"]
    forged = "0f8fad5b-d9cb-469f-a165-70867728950e"
    resp = send(client, auth, [overridden(issued), overridden(forged)])
    assert resp.status_code == 400
    body = resp.get_json()
    assert_conforms(PATH, "POST", 400, body)
    assert body["issue"][0]["code"] == "business-rule"
    assert [i["diagnostics"] for i in body["issue"][1:]] == [
        "feedback.1.card: not a card this service issued"
    ]
    assert forged not in resp.get_data(as_text=True)
    assert client.application.extensions["cds_store"].feedback() == []  # not even the issued one


def test_a_suggestion_uuid_or_an_altered_or_made_up_card_uuid_is_refused(client, auth):
    card = a_card(client, auth)
    for uuid in (card["uuid"].upper(), card["suggestions"][0]["uuid"], "c-1"):
        assert send(client, auth, [overridden(uuid)]).status_code == 400


def test_feedback_for_a_card_whose_record_has_expired_is_refused(client, auth):
    card = a_card(client, auth)["uuid"]
    store = client.application.extensions["cds_store"]
    store.prune_audit(before=float("inf"))  # the audit retention has passed
    assert send(client, auth, [overridden(card)]).status_code == 400


def test_a_user_comment_of_up_to_2000_characters_is_kept_and_a_longer_one_refused(client, auth):
    card = a_card(client, auth)["uuid"]
    assert MAX_USER_COMMENT == 2000
    longest = overridden(card, userComment="x" * MAX_USER_COMMENT)
    assert send(client, auth, [longest]).status_code == 200
    resp = send(client, auth, [overridden(card, userComment="y" * (MAX_USER_COMMENT + 1))])
    assert resp.status_code == 400
    assert "feedback.0.overrideReason.userComment" in resp.get_data(as_text=True)
    assert "yyyy" not in resp.get_data(as_text=True)
    (row,) = client.application.extensions["cds_store"].feedback()
    assert row["user_comment"] == "x" * MAX_USER_COMMENT


def accepted(card: str, suggestions: list[dict]) -> dict:
    item = {"card": card, "outcome": "accepted", "outcomeTimestamp": NOW}
    return {**item, "acceptedSuggestions": suggestions}


OVER_THE_LIMIT = {
    "a reason code": lambda card: overridden(card, reason={"system": "s", "code": "c" * 1001}),
    "a reason display": lambda card: overridden(
        card, reason={"system": "s", "code": "c", "display": "d" * 1001}
    ),
    "101 accepted suggestions": lambda card: accepted(card, [{"id": f"s{n}"} for n in range(101)]),
    "a suggestion id": lambda card: accepted(card, [{"id": "s" * 201}]),
    "a card uuid": lambda card: overridden("c" * 201),
}


@pytest.mark.parametrize("what", OVER_THE_LIMIT, ids=list(OVER_THE_LIMIT))
def test_other_feedback_fields_are_bounded_too(client, auth, what):
    card = a_card(client, auth)["uuid"]
    assert send(client, auth, [OVER_THE_LIMIT[what](card)]).status_code == 400
    assert client.application.extensions["cds_store"].feedback() == []


def test_at_most_100_feedback_items_are_taken_per_request(client, auth):
    card = a_card(client, auth)["uuid"]
    items = [
        {**overridden(card), "outcomeTimestamp": f"2026-11-25T10:{n // 60:02d}:{n % 60:02d}Z"}
        for n in range(MAX_FEEDBACK_ITEMS + 1)
    ]
    resp = send(client, auth, items)
    assert resp.status_code == 400
    assert "feedback: Length must be between 1 and 100." in resp.get_data(as_text=True)
    assert send(client, auth, items[:MAX_FEEDBACK_ITEMS]).status_code == 200
    assert len(client.application.extensions["cds_store"].feedback()) == MAX_FEEDBACK_ITEMS
