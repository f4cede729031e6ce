"""Hostile requests: oversized bodies are refused with 413, deeply nested JSON with 400, and a
`fhirServer` aimed at another host, a loopback, private or link-local address is refused
without any connection being made (no server-side request forgery)."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import time
import uuid
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.app import create_app
from service.preview.records import prefetch_for
from tests.fuzz.conftest import GENERATED
from tests.support.fhir_server import FhirTestServer
from tests.support.live import LiveServer

SERVICE = "anal-dilation-recommendations"
HOOK = f"/cds-services/{SERVICE}"
OPENAPI = json.loads((Path(__file__).resolve().parents[2] / "service" / "openapi.json").read_text())
PATH_IDS = {
    "PlanDefinition": SERVICE,
    "ActivityDefinition": "home-dilator-program",
    "ValueSet": "anal-stenosis",
}


def _concrete(path: str) -> str:
    """An OpenAPI path with real ids: the recommendations service/PlanDefinition, etc."""
    rtype = path.split("/")[2] if path.startswith("/fhir/") else ""
    return path.replace("{id}", PATH_IDS.get(rtype, SERVICE if path.startswith("/cds") else "x"))


# Every POST operation of the API, with a real id where the path has one.
POST_ROUTES = [_concrete(p) for p, item in OPENAPI["paths"].items() if "post" in item]


def patient_view(**extra) -> dict:
    return {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/x", "patientId": "p1"},
        **extra,
    }


@pytest.fixture
def client(fuzz_app):
    return fuzz_app.test_client()


@pytest.mark.parametrize("path", POST_ROUTES)
def test_a_body_over_the_size_limit_is_refused_with_413(fuzz_app, client, path):
    limit = fuzz_app.config["MAX_CONTENT_LENGTH"]
    body = patient_view(padding="x" * (limit + 1))
    resp = client.post(path, json=body)
    assert resp.status_code == 413
    assert resp.get_json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("path", POST_ROUTES)
def test_a_chunked_body_over_the_size_limit_is_refused_over_real_http(fuzz_app, path):
    limit = fuzz_app.config["MAX_CONTENT_LENGTH"]

    def chunks():  # no Content-Length: requests sends Transfer-Encoding: chunked
        yield b'{"padding": "'
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    with LiveServer(fuzz_app) as live:
        resp = requests.post(
            live.url + path,
            data=chunks(),
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
    assert resp.status_code == 413


@pytest.mark.parametrize("depth", [1_000, 20_000, 60_000])
@pytest.mark.parametrize("path", POST_ROUTES)
def test_deeply_nested_json_is_rejected_with_400_never_500(client, path, depth):
    nested = "[" * depth + "]" * depth
    envelope = patient_view()
    raw = json.dumps({**envelope, "prefetch": {"patient": "NESTED"}, "feedback": "NESTED"})
    raw = raw.replace('"NESTED"', nested)
    assert len(raw) < client.application.config["MAX_CONTENT_LENGTH"]
    resp = client.post(path, data=raw, content_type="application/json")
    GENERATED["hostile nested JSON"] += 1
    assert resp.status_code == 400
    assert resp.get_json()["resourceType"] == "OperationOutcome"


# fhirServer values an attacker would aim at the hospital network or the cloud metadata service.
REFUSED = [
    "http://127.0.0.1/fhir",
    "http://127.0.0.2:8080/fhir",
    "http://localhost/fhir",
    "http://[::1]/fhir",
    "http://0.0.0.0/fhir",
    "http://169.254.169.254/latest/meta-data",
    "http://[fe80::1]/fhir",
    "http://10.1.2.3/fhir",
    "http://192.168.0.10/fhir",
    "http://172.16.5.4/fhir",
    "http://[::ffff:127.0.0.1]/fhir",
    "http://[fd00::1]/fhir",
    "http://2130706433/fhir",
    "http://0x7f000001/fhir",
    "http://017700000001/fhir",
    "http://127.1/fhir",
    "https://ehr.example@127.0.0.1/fhir",
    "https://evil.example/fhir",
    "https://ehr.example.evil.example/fhir",
    "file:///etc/passwd",
    "gopher://127.0.0.1:25/",
    "ftp://ehr.example/fhir",
    "//127.0.0.1/fhir",
    "fhir",
]


@pytest.fixture
def strict_app(fuzz_app):
    """Allows exactly one (public) EHR FHIR server; http allowed so only the address rule acts."""
    settings = dataclasses.replace(
        fuzz_app.extensions["cds"].settings,
        fhir_server_allowlist=("https://ehr.example/fhir",),
        allow_http_fhir=True,
    )
    return create_app(settings)


@pytest.fixture
def open_app(fuzz_app):
    """Allow-list '*' (any base URL) and http: the address rule alone must refuse private ones."""
    settings = dataclasses.replace(
        fuzz_app.extensions["cds"].settings, fhir_server_allowlist=("*",), allow_http_fhir=True
    )
    return create_app(settings)


def _assert_refused_without_connection(app, url, outbound_connections):
    before = len(outbound_connections)
    resp = app.test_client().post(HOOK, json=patient_view(fhirServer=url))
    assert resp.status_code in (400, 412), (url, resp.status_code)
    assert resp.get_json()["resourceType"] == "OperationOutcome"
    assert len(outbound_connections) == before, f"{url}: a connection was attempted"


@pytest.mark.parametrize("url", REFUSED)
def test_fhir_servers_off_the_allow_list_are_refused_without_a_connection(
    strict_app, outbound_connections, url
):
    GENERATED["hostile fhirServer (allow-list)"] += 1
    _assert_refused_without_connection(strict_app, url, outbound_connections)


@pytest.mark.parametrize("url", [u for u in REFUSED if "evil" not in u and "ftp" not in u])
def test_loopback_private_and_link_local_servers_are_refused_even_when_any_url_is_allowed(
    open_app, outbound_connections, url
):
    GENERATED["hostile fhirServer (any URL allowed)"] += 1
    _assert_refused_without_connection(open_app, url, outbound_connections)


NON_PUBLIC_V4 = [
    ipaddress.ip_network(n)
    for n in (
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "100.64.0.0/10",
        "0.0.0.0/8",
    )
]
NON_PUBLIC_V6 = [ipaddress.ip_network(n) for n in ("::1/128", "fe80::/10", "fc00::/7")]


def _address_forms(ip: ipaddress._BaseAddress) -> list[str]:
    if ip.version == 6:
        return [f"[{ip}]", f"[{ip.exploded}]"]
    n = int(ip)
    return [str(ip), str(n), hex(n), "0" + oct(n)[2:]]


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(
    network=st.sampled_from(NON_PUBLIC_V4 + NON_PUBLIC_V6),
    offset=st.integers(min_value=0, max_value=2**32),
    form=st.integers(min_value=0, max_value=3),
    port=st.one_of(st.none(), st.integers(min_value=1, max_value=65535)),
    scheme=st.sampled_from(["http", "https"]),
)
def test_any_non_public_address_in_any_notation_is_refused_without_a_connection(
    open_app, outbound_connections, network, offset, form, port, scheme
):
    ip = network[offset % network.num_addresses]
    forms = _address_forms(ip)
    host = forms[form % len(forms)]
    url = f"{scheme}://{host}{'' if port is None else f':{port}'}/fhir"
    GENERATED["hostile fhirServer (generated addresses)"] += 1
    _assert_refused_without_connection(open_app, url, outbound_connections)


def test_a_refused_fhir_server_really_receives_nothing(fuzz_app):
    """End to end: a real server listening on loopback is never contacted."""
    with FhirTestServer() as srv:
        settings = dataclasses.replace(
            fuzz_app.extensions["cds"].settings,
            fhir_server_allowlist=(srv.base_url,),
            allow_http_fhir=True,
            allow_private_fhir_addresses=False,
        )
        resp = (
            create_app(settings)
            .test_client()
            .post(HOOK, json=patient_view(fhirServer=srv.base_url))
        )
        assert resp.status_code == 412
        assert srv.requests == []


def test_the_token_never_follows_a_next_link_to_another_origin(fuzz_app):
    with (
        FhirTestServer([{"resourceType": "Patient", "id": "p1"}]) as srv,
        FhirTestServer() as other,
    ):
        srv.add_fault("*", "next-elsewhere", url=other.base_url + "/Condition?page=2")
        settings = dataclasses.replace(
            fuzz_app.extensions["cds"].settings,
            fhir_server_allowlist=(srv.base_url, other.base_url),
            allow_http_fhir=True,
            allow_private_fhir_addresses=True,
        )
        body = patient_view(
            fhirServer=srv.base_url,
            fhirAuthorization={
                "access_token": "secret-token",
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": "patient/*.read",
                "subject": "cds-service",
            },
        )
        resp = create_app(settings).test_client().post(HOOK, json=body)
        assert resp.status_code in (200, 412)
        assert srv.requests, "the allowed server was asked"
        assert other.requests == []


def test_the_largest_accepted_record_is_answered_within_seconds(fuzz_app):
    """A body just under the default 5 MB limit, all of it matching the logic's value sets."""
    settings = dataclasses.replace(fuzz_app.extensions["cds"].settings, max_request_bytes=5 << 20)
    app = create_app(settings)
    client = app.test_client()
    descriptor = next(d for d in app.extensions["cds"].discovery["services"] if d["id"] == SERVICE)
    condition = {
        "resourceType": "Condition",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "K62.4"}]},
        "onsetDateTime": "2026-01-01",
    }
    record = [{"resourceType": "Patient", "id": "p1"}]
    record += [{**condition, "id": f"c{i}"} for i in range(20_000)]
    raw = json.dumps(patient_view(prefetch=prefetch_for(descriptor, record)))
    assert 4 << 20 < len(raw) < 5 << 20
    started = time.monotonic()
    resp = client.post(HOOK, data=raw, content_type="application/json")
    elapsed = time.monotonic() - started
    assert resp.status_code == 200
    assert elapsed < 5.0, f"{elapsed:.1f} s"
