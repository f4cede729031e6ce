"""Limits on what a hook call may make the service fetch from an EHR's FHIR server.

- CDS_FHIR_MAX_BYTES_PER_CALL: bytes fetched for one hook call, every response and page
  together. Beyond it the patient's data cannot be obtained: a 412 OperationOutcome that names
  the limit, never a 500 and never cards from the part that was fetched.
- CDS_FHIR_MAX_CONCURRENCY: outbound requests in flight at once in one worker process, shared
  by every hook call it serves (the other requests wait for a slot, within the time budget).
"""

from __future__ import annotations

import dataclasses
import json
import threading
import uuid

import pytest
import requests

from service.app import create_app
from service.config import ConfigError, Settings
from service.fhirclient import FhirClient, FhirFetchError, OutboundPolicy
from tests.faults.conftest import SERVICE
from tests.support.fhir_server import FhirTestServer, fault
from tests.support.live import LiveServer

PATH = f"/cds-services/{SERVICE}"


def hook_call(scenario, fhir_server: str) -> dict:
    return {
        "hook": scenario.hook,
        "hookInstance": str(uuid.uuid4()),
        "fhirServer": fhir_server,
        "context": {"userId": "Practitioner/ehr-user", "patientId": scenario.patient_id},
    }


def app_with(app, **settings):
    """The faults app (bundled content) deployed with other settings."""
    changed = dataclasses.replace(app.extensions["cds"].settings, **settings)
    return create_app(changed, knowledge=app.extensions["cds"].kb)


# -- bytes per hook call ----------------------------------------------------------------------
def test_the_settings_default_to_8_requests_in_flight_and_20_mib_per_call():
    s = Settings.from_env({})
    assert (s.fhir_max_concurrency, s.fhir_max_bytes_per_call) == (8, 20 * 1024 * 1024)
    s = Settings.from_env({"CDS_FHIR_MAX_CONCURRENCY": "2", "CDS_FHIR_MAX_BYTES_PER_CALL": "1000"})
    assert (s.fhir_max_concurrency, s.fhir_max_bytes_per_call) == (2, 1000)


@pytest.mark.parametrize("value", ["0", "-1", "many", "1.5"])
@pytest.mark.parametrize("name", ["CDS_FHIR_MAX_CONCURRENCY", "CDS_FHIR_MAX_BYTES_PER_CALL"])
def test_a_limit_that_is_not_a_positive_whole_number_stops_start_up(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_a_record_larger_than_the_byte_budget_is_a_412_naming_the_limit(app, fhir, scenario):
    client = app_with(app, fhir_max_bytes_per_call=2000).test_client()
    fhir.add(
        {
            "resourceType": "Observation",
            "id": "long-note",
            "status": "final",
            "subject": {"reference": f"Patient/{scenario.patient_id}"},
            "valueString": "x" * 10_000,
        }
    )
    try:
        resp = client.post(PATH, json=hook_call(scenario, fhir.base_url))
    finally:
        fhir.resources.pop()
    assert resp.status_code == 412, resp.get_data(as_text=True)[:500]
    outcome = resp.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "incomplete"
    assert any("CDS_FHIR_MAX_BYTES_PER_CALL" in i["diagnostics"] for i in outcome["issue"])


def test_within_the_byte_budget_the_cards_come_as_usual(app, fhir, scenario, expected_summaries):
    client = app_with(app, fhir_max_bytes_per_call=2_000_000).test_client()
    resp = client.post(PATH, json=hook_call(scenario, fhir.base_url))
    assert resp.status_code == 200
    assert set(expected_summaries) <= {c["summary"] for c in resp.get_json()["cards"]}


def test_the_budget_counts_every_response_of_the_call_together():
    """Two responses, each under the budget, exceed it together: the second one fails, and so
    does every later request of the call."""
    patient = {"resourceType": "Patient", "id": "p1", "name": [{"text": "y" * 500}]}
    size = len(json.dumps(patient).encode())  # what the test server sends for a read
    with FhirTestServer([patient]) as srv:
        policy = OutboundPolicy((srv.base_url,), allow_private_addresses=True, allow_http=True)
        client = FhirClient(max_bytes_per_call=size + size // 2)
        session = client.bind(policy.vet(srv.base_url), None)
        assert session.fetch("Patient/p1") == [patient]
        with pytest.raises(FhirFetchError, match="CDS_FHIR_MAX_BYTES_PER_CALL"):
            session.fetch("Patient/p1")
        asked = len(srv.requests)
        with pytest.raises(FhirFetchError, match="CDS_FHIR_MAX_BYTES_PER_CALL"):
            session.fetch("Patient/p1")
        assert len(srv.requests) == asked  # no request once the budget is spent
        fresh = client.bind(policy.vet(srv.base_url), None)  # the next hook call: a new budget
        assert fresh.fetch("Patient/p1") == [patient]


# -- requests in flight per worker ------------------------------------------------------------
@dataclasses.dataclass
class Gate:
    """Counts requests in flight at the FHIR server. Each request is held until more than
    `limit` are in flight at once, or for `hold` seconds (a bounded wait: with the limit kept,
    the crowd never comes)."""

    limit: int
    hold: float
    in_flight: int = 0
    most: int = 0
    cond: threading.Condition = dataclasses.field(default_factory=threading.Condition)


@fault("gate")
def _gate(handler, info, opts) -> bool:
    gate: Gate = opts["gate"]
    with gate.cond:
        gate.in_flight += 1
        gate.most = max(gate.most, gate.in_flight)
        gate.cond.notify_all()
        gate.cond.wait_for(lambda: gate.in_flight > gate.limit, timeout=gate.hold)
        gate.in_flight -= 1
    return False  # then answer normally


def test_outbound_requests_in_flight_are_capped_per_worker_across_hook_calls(app, scenario):
    gate = Gate(limit=2, hold=0.3)
    record = [e["resource"] for e in scenario.bundle["entry"]]
    with FhirTestServer(record) as srv:
        srv.add_fault("*", "gate", gate=gate)
        capped = app_with(
            app,
            fhir_server_allowlist=(srv.base_url,),
            fhir_max_concurrency=gate.limit,
            fhir_read_timeout=5.0,
            fhir_total_timeout=25.0,
        )
        statuses: list[int] = []
        with LiveServer(capped) as live:

            def call() -> None:
                body = hook_call(scenario, srv.base_url)
                resp = requests.post(live.url + PATH, json=body, timeout=60)
                statuses.append(resp.status_code)

            callers = [threading.Thread(target=call) for _ in range(2)]  # two hook calls at once
            for t in callers:
                t.start()
            for t in callers:
                t.join(60)
        assert len(srv.requests) > 2 * gate.limit  # enough requests to crowd the server
    assert statuses == [200, 200]
    assert gate.most == gate.limit
