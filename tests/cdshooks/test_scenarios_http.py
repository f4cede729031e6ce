"""Every clinical scenario through real HTTP hook calls on the real content.

For each scenario (service/preview/example_patients) the record is sent three ways and must give
the same cards: as a complete prefetch; as a partial prefetch, with the missing keys served by a
local FHIR server; and with no prefetch and no FHIR server, which must be a 412. The cards must be
the scenario's expected PlanDefinition actions (identified by their stable uuids) and never its
absent ones, and every response must conform to the spec. A scenario with CQL parameter values (a
hospital's own thresholds) runs against a service deployed with them (CDS_CQL_PARAMETERS).
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from contextlib import ExitStack
from urllib.parse import urlsplit

import pytest
import requests

from service.app import create_app
from service.cdshooks.cards import stable_uuid
from service.config import Settings, TrustedIssuer
from tests.cdshooks.conftest import PUBLIC_BASE
from tests.scenarios.loader import load_scenarios
from tests.support.cds_spec import assert_conforms
from tests.support.cql_parameters import parameters_resource
from tests.support.fhir_server import FhirTestServer
from tests.support.jwt_keys import TestClient
from tests.support.live import LiveServer

SCENARIOS = load_scenarios()


@pytest.fixture(scope="module")
def ehr() -> TestClient:
    return TestClient()


@pytest.fixture(scope="module")
def fhir():
    with FhirTestServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def base_settings(tmp_path_factory, ehr, fhir) -> Settings:
    return Settings(
        sqlite_path=tmp_path_factory.mktemp("db") / "cds.sqlite3",
        external_base_url=PUBLIC_BASE,  # every token's aud names it
        trusted_issuers=(
            TrustedIssuer(iss=ehr.iss, jwks=ehr.jwks(), fhir_servers=(fhir.base_url,)),
        ),
        allow_private_fhir_addresses=True,
        allow_http_fhir=True,
        log_level="WARNING",
    )


@pytest.fixture(scope="module")
def live(base_settings):
    with LiveServer(create_app(base_settings)) as server:
        yield server


def discovery_of(live, ehr) -> list[dict]:
    token = ehr.token(PUBLIC_BASE + "/cds-services")
    resp = requests.get(
        live.url + "/cds-services", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert resp.status_code == 200
    return resp.json()["services"]


@pytest.fixture(scope="module")
def discovery(live, ehr) -> list[dict]:
    return discovery_of(live, ehr)


@pytest.fixture(scope="module")
def deployed(live, discovery, base_settings, ehr):
    """`deployed(scenario)` → (server, its discovery): the default deployment, or, for a
    scenario with CQL parameter values, a service deployed with them (one per distinct set)."""
    servers: dict[str, tuple] = {}
    with ExitStack() as stack:

        def server_for(scenario) -> tuple:
            if not scenario.parameters:
                return live, discovery
            key = json.dumps(scenario.parameters, sort_keys=True)
            if key not in servers:
                settings = dataclasses.replace(
                    base_settings, cql_parameters=parameters_resource(scenario.parameters)
                )
                server = stack.enter_context(LiveServer(create_app(settings)))
                servers[key] = (server, discovery_of(server, ehr))
            return servers[key]

        yield server_for


def prefetch_for(templates: dict[str, str], record: list[dict]) -> dict:
    """What a conformant EHR sends: each key's resources (searches as searchset Bundles)."""
    out = {}
    for key, template in templates.items():
        rtype = template.split("?")[0].split("/")[0]
        matches = [r for r in record if r["resourceType"] == rtype]
        if "?" not in template:
            out[key] = matches[0] if matches else None
        else:
            out[key] = {
                "resourceType": "Bundle",
                "type": "searchset",
                "entry": [{"resource": r} for r in matches],
            }
    return out


def hook_body(scenario, prefetch: dict | None, fhir_server: str | None) -> dict:
    context = {"userId": "Practitioner/clinician-1", "patientId": scenario.patient_id}
    if scenario.hook in ("order-select", "order-sign"):
        drafts = scenario.context.get("draftOrders") or {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [],
        }
        context["draftOrders"] = drafts
        if scenario.hook == "order-select":
            context["selections"] = scenario.context.get("selections") or [
                f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in drafts["entry"]
            ]
    body = {"hook": scenario.hook, "hookInstance": str(uuid.uuid4()), "context": context}
    if prefetch is not None:
        body["prefetch"] = prefetch
    if fhir_server:
        body["fhirServer"] = fhir_server
        body["fhirAuthorization"] = {
            "access_token": "scenario-token",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "cds-service",
        }
    return body


def invoke(live, ehr, service_id: str, body: dict) -> requests.Response:
    path = f"/cds-services/{service_id}"
    token = ehr.token(PUBLIC_BASE + path)
    return requests.post(
        live.url + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def fired_actions(
    plan_actions: list[str], plan_definition: str, patient_id: str, cards: list[dict]
) -> set[str]:
    by_uuid = {stable_uuid("card", plan_definition, a, patient_id): a for a in plan_actions}
    unknown = [c["summary"] for c in cards if c["uuid"] not in by_uuid]
    assert not unknown, f"cards that match no PlanDefinition action: {unknown}"
    return {by_uuid[c["uuid"]] for c in cards}


def run_all_services(
    live, ehr, discovery, scenario, make_body, cards_by_action: dict | None = None
) -> tuple[set[str], list[int]]:
    """Invoke every service of the scenario's hook; `cards_by_action`, when given, collects
    each card under its PlanDefinition action id."""
    fired: set[str] = set()
    statuses = []
    for svc in (s for s in discovery if s["hook"] == scenario.hook):
        body = make_body(svc)
        resp = invoke(live, ehr, svc["id"], body)
        statuses.append(resp.status_code)
        path = urlsplit(resp.url).path
        assert_conforms(path, "POST", resp.status_code, resp.json())
        if resp.status_code == 200:
            plan_id = plan_definition_of(svc)  # card uuids derive from it, not the service id
            plan = live_plan_actions(live, plan_id)
            cards = resp.json()["cards"]
            fired |= fired_actions(plan, plan_id, scenario.patient_id, cards)
            if cards_by_action is not None:
                by_uuid = {c["uuid"]: c for c in cards}
                for action_id in plan:
                    uid = stable_uuid("card", plan_id, action_id, scenario.patient_id)
                    if uid in by_uuid:
                        cards_by_action[action_id] = by_uuid[uid]
    return fired, statuses


def plan_definition_of(descriptor: dict) -> str:
    """The id of the PlanDefinition behind a discovery entry (its canonical url's last part)."""
    return descriptor["extension"]["dilation-cds-plandefinition"]["url"].rsplit("/", 1)[-1]


_PLAN_ACTIONS: dict[str, list[str]] = {}


def live_plan_actions(live, plan_definition: str) -> list[str]:
    if plan_definition not in _PLAN_ACTIONS:
        from service.apply import load_knowledge  # the same content the service loaded

        kb = load_knowledge(content_dir=Settings().content_dir, cql_dir=Settings().cql_dir)
        for pd in kb.plan_definitions:
            _PLAN_ACTIONS[pd["id"]] = [a["id"] for a in pd.get("action", []) if a.get("id")]
    return _PLAN_ACTIONS[plan_definition]


def check_expected(scenario, fired: set[str]) -> None:
    missing = set(scenario.expected["actions"]) - fired
    unwanted = set(scenario.expected["absent_actions"]) & fired
    assert not missing, f"{scenario.name}: expected cards missing: {sorted(missing)}"
    assert not unwanted, f"{scenario.name}: unexpected cards: {sorted(unwanted)}"


def check_suggestions(scenario, cards_by_action: dict[str, dict]) -> None:
    """The suggestions the scenario expects (by label): recommendation flag and delete targets."""
    for action_id, wanted in scenario.expected["suggestions"].items():
        card = cards_by_action.get(action_id)
        assert card is not None, f"{scenario.name}: no card for {action_id}"
        offered = {s["label"]: s for s in card.get("suggestions", [])}
        for want in wanted:
            got = offered.get(want["label"])
            assert got is not None, f"{action_id}: no suggestion {want['label']!r}"
            assert bool(got.get("isRecommended")) is want.get("isRecommended", False)
            if "delete" in want:
                assert [a["type"] for a in got["actions"]] == ["delete"] * len(want["delete"])
                assert [a["resourceId"] for a in got["actions"]] == want["delete"]
                assert all("resource" not in a and a["description"] for a in got["actions"])


def record_of(scenario) -> list[dict]:
    return [e["resource"] for e in scenario.bundle["entry"]]


@pytest.mark.slow
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.slug for s in SCENARIOS])
def test_scenario_with_complete_prefetch(deployed, ehr, scenario):
    live, discovery = deployed(scenario)
    record = record_of(scenario)
    cards: dict[str, dict] = {}
    fired, statuses = run_all_services(
        live,
        ehr,
        discovery,
        scenario,
        lambda svc: hook_body(scenario, prefetch_for(svc["prefetch"], record), None),
        cards,
    )
    assert statuses and set(statuses) == {200}
    check_expected(scenario, fired)
    check_suggestions(scenario, cards)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.slug for s in SCENARIOS])
def test_scenario_with_partial_prefetch_completed_from_the_fhir_server(
    deployed, ehr, fhir, scenario
):
    live, discovery = deployed(scenario)
    record = record_of(scenario)
    fhir.resources = record
    fhir.requests.clear()

    def partial(svc):
        full = prefetch_for(svc["prefetch"], record)
        kept = {k: v for i, (k, v) in enumerate(full.items()) if i % 2 == 0}  # every other key
        return hook_body(scenario, kept, fhir.base_url)

    fired, statuses = run_all_services(live, ehr, discovery, scenario, partial)
    assert set(statuses) == {200}
    assert fhir.requests, "the missing keys were fetched"
    assert {r.authorization for r in fhir.requests} == {"Bearer scenario-token"}
    check_expected(scenario, fired)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.slug for s in SCENARIOS])
def test_scenario_without_prefetch_or_fhir_server_is_412(live, ehr, discovery, scenario):
    _, statuses = run_all_services(
        live, ehr, discovery, scenario, lambda svc: hook_body(scenario, None, None)
    )
    assert statuses and set(statuses) == {412}
