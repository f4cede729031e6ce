"""What the CDS Hooks Sandbox does, end to end (shared/docs/cds-hooks.md, "A real client").

The first test plays a Sandbox session over the fixture content. The others replay requests in
the Sandbox's own shapes (`sandbox_requests/*.json`, see its README) against the bundled content:
Rx View's order-select and an order-sign, each answered with its cards under the per-hook service
id the Sandbox discovers and under the PlanDefinition's id that discovery listed before.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from pathlib import Path

import pytest

from service.app import create_app
from service.apply import load_knowledge
from service.cdshooks.cards import stable_uuid
from service.config import Settings, TrustedIssuer
from service.knowledge import KnowledgeBase
from service.patient_scope import belongs_to
from tests.cdshooks.conftest import PUBLIC_BASE, SERVICE, pain, patient
from tests.support.cds_spec import assert_conforms
from tests.support.fhir_server import FhirTestServer
from tests.support.jwt_keys import TestClient

SANDBOX = "https://sandbox.cds-hooks.org"
JKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
REQUESTS = Path(__file__).resolve().parent / "sandbox_requests"
ORDER_SAFETY = "anal-dilation-order-safety"
RED_FLAG = "order-home-program-during-red-flag"
NO_CLINICAL_START = "order-home-program-without-clinical-start"
# replayed request → the order-safety actions whose cards it must get (no others)
EXPECTED = {
    "order-select-dilator-set.json": {RED_FLAG, NO_CLINICAL_START},
    # the Sandbox's own Rx View orders a medication: not a home dilation order, so no card
    "order-select-medication-only.json": set(),
    "order-sign-home-program.json": {RED_FLAG, NO_CLINICAL_START},
}
# replayed request → the draft order the cards offer to remove (never the medication beside it)
REMOVED = {
    "order-select-dilator-set.json": {"DeviceRequest/dilator-order-1"},
    "order-select-medication-only.json": set(),
    "order-sign-home-program.json": {"ServiceRequest/home-program-order-1"},
}


def test_a_sandbox_session_discovers_invokes_with_partial_prefetch_and_sends_feedback(
    make_app, tmp_path
):
    sandbox = TestClient(SANDBOX)
    jwks = tmp_path / "sandbox-jwks.json"
    jwks.write_text(json.dumps(sandbox.jwks(("es-1",))))
    with FhirTestServer([patient(), pain(9, "obs-ehr")]) as ehr:
        issuer = TrustedIssuer(iss=SANDBOX, jwks_file=str(jwks), fhir_servers=(ehr.base_url,))
        client = make_app(trusted_issuers=(issuer,), fhir_server_allowlist=()).test_client()

        def headers(path: str) -> dict:
            token = sandbox.token("http://localhost" + path, header={"jku": JKU})  # ES384, typ JWT
            return {"Authorization": f"Bearer {token}", "Origin": SANDBOX}

        # preflight, then discovery
        pre = client.options(
            "/cds-services",
            headers={
                "Origin": SANDBOX,
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        assert pre.status_code == 200 and pre.headers["Access-Control-Allow-Origin"] == "*"
        services = client.get("/cds-services", headers=headers("/cds-services")).get_json()[
            "services"
        ]
        assert services, "the Sandbox treats an empty list as a failure"

        # patient-view: no fhirAuthorization (open server), the keys it could not resolve omitted
        path = f"/cds-services/{SERVICE}"
        body = {
            "hookInstance": str(uuid.uuid4()),
            "hook": "patient-view",
            "fhirServer": ehr.base_url,
            "context": {"patientId": "p1", "userId": "Practitioner/COREPRACTITIONER1"},
            "prefetch": {"patient": patient()},
        }
        resp = client.post(path, json=body, headers=headers(path))
        assert resp.status_code == 200
        assert_conforms(path, "POST", 200, resp.get_json())
        (card,) = resp.get_json()["cards"]
        assert {r.path for r in ehr.requests} == {"/fhir/Condition", "/fhir/Observation"}
        assert all(r.authorization is None for r in ehr.requests)

        # accepting a suggestion, then dismissing with a reason without display
        fb = path + "/feedback"
        accepted = {
            "card": card["uuid"],
            "outcome": "accepted",
            "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}],
            "outcomeTimestamp": "2026-11-25T10:00:00.000Z",
        }
        reason = card["overrideReasons"][0]
        overridden = {
            "card": card["uuid"],
            "outcome": "overridden",
            "overrideReason": {"reason": {"code": reason["code"], "system": reason["system"]}},
            "outcomeTimestamp": "2026-11-25T10:01:00.000Z",
        }
        for item in (accepted, overridden):
            assert (
                client.post(fb, json={"feedback": [item]}, headers=headers(fb)).status_code == 200
            )
        rows = client.application.extensions["cds_store"].feedback(SERVICE)
        assert [r["outcome"] for r in rows] == ["accepted", "overridden"]


# -- replayed Sandbox requests on the bundled content -------------------------------------------
def replayed(name: str) -> dict:
    return json.loads((REQUESTS / name).read_text())


@pytest.fixture(scope="module")
def content() -> KnowledgeBase:
    return load_knowledge(content_dir=Settings().content_dir, cql_dir=Settings().cql_dir)


@pytest.fixture
def ehr_server():
    """The Sandbox's FHIR server, holding the record the replayed prefetch came from."""
    record = {}
    for name in EXPECTED:
        for value in replayed(name)["prefetch"].values():
            entries = value.get("entry", []) if value["resourceType"] == "Bundle" else []
            for r in (
                [value] if value["resourceType"] != "Bundle" else [e["resource"] for e in entries]
            ):
                record[(r["resourceType"], r["id"])] = r
    with FhirTestServer(list(record.values())) as server:
        yield server


@pytest.fixture
def sandbox(settings, content, ehr_server, tmp_path):
    """`sandbox(path, body)` → the response to a Sandbox-signed POST (ES384, jku header) on the
    bundled content; the request's fhirServer is pointed at `ehr_server`."""
    client_keys = TestClient(SANDBOX)
    jwks = tmp_path / "sandbox-jwks.json"
    jwks.write_text(json.dumps(client_keys.jwks(("es-1",))))
    issuer = TrustedIssuer(iss=SANDBOX, jwks_file=str(jwks), fhir_servers=(ehr_server.base_url,))
    app = create_app(
        dataclasses.replace(settings, trusted_issuers=(issuer,), fhir_server_allowlist=()),
        knowledge=content,
    )
    client = app.test_client()

    def call(path: str, body: dict | None = None):
        token = client_keys.token(PUBLIC_BASE + path, header={"jku": JKU})
        headers = {"Authorization": f"Bearer {token}", "Origin": SANDBOX}
        if body is None:
            return client.get(path, headers=headers)
        if "fhirServer" in body:
            body = {**body, "fhirServer": ehr_server.base_url}
        return client.post(path, json=body, headers=headers)

    call.app = app
    return call


def fired(cards: list[dict], patient_id: str, content: KnowledgeBase) -> set[str]:
    """The order-safety actions behind the cards (uuids derive from the PlanDefinition id)."""
    (plan,) = [p for p in content.plan_definitions if p["id"] == ORDER_SAFETY]
    by_uuid = {
        stable_uuid("card", ORDER_SAFETY, a["id"], patient_id): a["id"] for a in plan["action"]
    }
    assert all(c["uuid"] in by_uuid for c in cards), "a card that is no order-safety action"
    return {by_uuid[c["uuid"]] for c in cards}


def outline(card: dict) -> tuple:
    """A card without its proposed resources' timestamps: ids, texts and suggestion targets."""
    suggestions = [
        (s["uuid"], s["label"], [(a["type"], a.get("resourceId")) for a in s.get("actions", [])])
        for s in card.get("suggestions", [])
    ]
    return card["uuid"], card["summary"], card["indicator"], card.get("detail"), suggestions


def test_the_sandbox_discovers_one_service_per_hook_so_rx_view_reaches_order_select(sandbox):
    resp = sandbox("/cds-services")
    assert resp.status_code == 200
    assert_conforms("/cds-services", "GET", 200, resp.get_json())  # ids unique
    listed = {s["id"]: s["hook"] for s in resp.get_json()["services"]}
    assert listed == {
        "anal-dilation-recommendations": "patient-view",
        f"{ORDER_SAFETY}-order-select": "order-select",
        f"{ORDER_SAFETY}-order-sign": "order-sign",
    }


def test_the_replayed_requests_have_the_sandbox_shapes_the_service_must_accept():
    select = replayed("order-select-dilator-set.json")
    assert "type" not in select["context"]["draftOrders"]  # Rx View's Bundle has no type
    assert "expires_in" not in select["fhirAuthorization"]
    condition = select["prefetch"]["Condition"]
    assert condition["type"] == "searchset"
    assert condition["link"][0]["url"].split("?")[0].endswith("/Condition/_search")  # POST search
    assert replayed("order-sign-home-program.json")["hook"] == "order-sign"
    for name in EXPECTED:  # data about anyone but the context patient would be a 400
        body = replayed(name)
        patient_id = body["context"]["patientId"]
        resources = [e["resource"] for e in body["context"]["draftOrders"]["entry"]]
        for value in body["prefetch"].values():
            resources += (
                [e["resource"] for e in value.get("entry", [])]
                if value["resourceType"] == "Bundle"
                else [value]
            )
        assert all(belongs_to(r, patient_id) for r in resources), name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_replayed_sandbox_request_gets_its_cards_from_the_hook_id_and_the_plan_definition_id(
    sandbox, content, name
):
    body = replayed(name)
    answers = []
    for service_id in (f"{ORDER_SAFETY}-{body['hook']}", ORDER_SAFETY):
        path = f"/cds-services/{service_id}"
        resp = sandbox(path, body)
        assert resp.status_code == 200, resp.get_json()
        assert_conforms(path, "POST", 200, resp.get_json())
        cards = resp.get_json()["cards"]
        assert fired(cards, body["context"]["patientId"], content) == EXPECTED[name]
        removed = {
            a["resourceId"]
            for c in cards
            for s in c.get("suggestions", [])
            for a in s["actions"]
            if a["type"] == "delete"
        }
        assert removed == REMOVED[name]
        answers.append([outline(c) for c in cards])
    assert answers[0] == answers[1]  # the same cards (proposed orders carry the call's time)


def test_a_sandbox_token_without_expires_in_fetches_what_the_sandbox_could_not_prefetch(
    sandbox, ehr_server
):
    body = replayed("order-select-dilator-set.json")
    path = f"/cds-services/{ORDER_SAFETY}-order-select"
    services = sandbox("/cds-services").get_json()["services"]
    templates = next(s for s in services if s["id"] == f"{ORDER_SAFETY}-order-select")["prefetch"]
    not_prefetched = {templates[k].split("?")[0] for k in set(templates) - set(body["prefetch"])}
    assert not_prefetched, "the replay leaves keys to fetch (the Sandbox drops failed prefetches)"
    resp = sandbox(path, body)
    assert resp.status_code == 200
    assert {r.path.rsplit("/", 1)[-1] for r in ehr_server.requests} == not_prefetched
    token = body["fhirAuthorization"]["access_token"]
    assert {r.authorization for r in ehr_server.requests} == {f"Bearer {token}"}


def test_feedback_on_a_sandbox_card_sent_to_the_hook_id_is_stored_under_the_plan_definition(
    sandbox,
):
    body = replayed("order-select-dilator-set.json")
    path = f"/cds-services/{ORDER_SAFETY}-order-select"
    card = sandbox(path, body).get_json()["cards"][0]
    item = {
        "card": card["uuid"],
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}],
        "outcomeTimestamp": "2026-03-02T09:15:00.000Z",
    }
    assert sandbox(path + "/feedback", {"feedback": [item]}).status_code == 200
    (row,) = sandbox.app.extensions["cds_store"].feedback(ORDER_SAFETY)
    assert row["card_uuid"] == card["uuid"]
