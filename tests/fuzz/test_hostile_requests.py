"""Hostile requests: oversized bodies are refused with 413, deeply nested JSON with 400, and a
`fhirServer` aimed at another host, a loopback, private or link-local address (also disguised as
IPv6: IPv4-mapped, NAT64, 6to4, Teredo) is refused without any connection being made (no
server-side request forgery), and no `next` link or `fhirServer` path walks the token out of the
base path (`..`, `%2e%2e`, encoded slashes)."""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import json
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.app import create_app
from service.fhirclient import FhirAccessDenied, FhirClient, FhirFetchError, OutboundPolicy
from service.preview.records import prefetch_for
from tests.fuzz.conftest import GENERATED
from tests.support.fhir_server import FhirTestServer, as_a_lenient_server_reads
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


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("path", POST_ROUTES)
def test_nan_and_infinity_literals_are_not_json_and_rejected_with_400(client, path, literal):
    raw = json.dumps(patient_view(prefetch={"patient": {"resourceType": "Patient", "id": "X"}}))
    raw = raw.replace('"X"', literal)
    resp = client.post(path, data=raw, content_type="application/json")
    assert resp.status_code == 400
    assert "not valid JSON" in resp.get_data(as_text=True)


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
    # IPv6 forms that embed a non-public IPv4 address, and non-public IPv6 ranges
    "http://[::ffff:169.254.169.254]/latest/meta-data",
    "http://[::ffff:0:127.0.0.1]/fhir",
    "http://[::127.0.0.1]/fhir",
    "http://[64:ff9b::7f00:1]/fhir",
    "http://[64:ff9b::a9fe:a9fe]/latest/meta-data",
    "http://[64:ff9b:1::a00:1]/fhir",
    "http://[2002:7f00:1::]/fhir",
    "http://[2002:a9fe:a9fe::]/fhir",
    "http://[2001:0:7f00:1::fefe:fefe]/fhir",
    "http://[2001:0:808:808::80ff:fffe]/fhir",
    "http://[fec0::1]/fhir",
    "http://[ff02::1]/fhir",
    "http://[::]/fhir",
    "http://[2001:db8::1]/fhir",
    "http://[100::1]/fhir",
    "http://224.0.0.1/fhir",
    "http://100.64.0.1/fhir",
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

# fhirServer values on the allowed host whose path leaves the allowed base `/fhir` once dot
# segments are resolved, or that servers read differently (encoded slashes, backslashes).
ESCAPING_BASES = [
    "https://ehr.example/fhir/../admin",
    "https://ehr.example/fhir/./../admin",
    "https://ehr.example/fhir/%2e%2e/admin",
    "https://ehr.example/fhir/%2E%2e/admin",
    "https://ehr.example/fhir/.%2e/admin",
    "https://ehr.example/fhir/r4/%2e%2e/%2E./admin",
    "https://ehr.example/fhir/..%2fadmin",
    "https://ehr.example/fhir%2F..%2Fadmin",
    "https://ehr.example/fhir/..%5cadmin",
    "https://ehr.example/fhir\\..\\admin",
    "https://ehr.example/fhir/%252e%252e/admin",
    "https://ehr.example/fhir/..;/admin",
    "https://ehr.example/fhir-evil",
    "https://ehr.example/fhir/../fhir-evil",
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


@pytest.mark.parametrize("url", REFUSED + ESCAPING_BASES)
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
NON_PUBLIC_V6 = [
    ipaddress.ip_network(n)
    for n in (
        "::1/128",
        "fe80::/10",
        "fc00::/7",
        "fec0::/10",
        "ff00::/8",
        "2001:db8::/32",
        "100::/64",
        "64:ff9b:1::/48",
        # IPv4-mapped, IPv4-compatible, NAT64 and 6to4 forms of loopback, private, link-local
        "::ffff:127.0.0.0/104",
        "::ffff:10.0.0.0/104",
        "::127.0.0.0/104",
        "64:ff9b::7f00:0/104",
        "64:ff9b::a9fe:0/112",
        "64:ff9b::c0a8:0/112",
        "2002:7f00::/24",
        "2002:a00::/24",
        "2002:a9fe::/32",
        "2001:0:7f00::/40",  # Teredo with a loopback server
    )
]


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


# Path segments an attacker combines to walk a `next` link or a fhirServer out of the base path.
PATH_SEGMENTS = [
    "fhir",
    "Condition",
    "admin",
    "fhir-evil",
    "",
    ".",
    "..",
    "%2e",
    "%2E",
    "%2e%2e",
    "%2E%2e",
    ".%2e",
    "%2e.",
    "%2f",
    "%2F",
    "%5c",
    "\\",
    "%252e%252e",
    "..;",
    "..;x",
    "..%3b",
    "..%00",
    "%43ondition",
    "x;y",
]


@pytest.fixture(scope="module")
def paging_server():
    """A FHIR server whose Condition search has two pages, on a loopback address."""
    conditions = [
        {"resourceType": "Condition", "id": f"c{i}", "subject": {"reference": "Patient/p1"}}
        for i in range(2)
    ]
    with FhirTestServer(conditions) as srv:
        yield srv


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(
    segments=st.lists(st.sampled_from(PATH_SEGMENTS), min_size=1, max_size=8),
    rooted=st.booleans(),
)
def test_no_generated_next_link_or_fhir_server_takes_the_token_outside_the_base_path(
    paging_server, segments, rooted
):
    srv = paging_server
    path = ("/fhir/" if rooted else "/") + "/".join(segments)
    policy = OutboundPolicy(
        deployment_allowlist=(srv.base_url,), allow_http=True, allow_private_addresses=True
    )
    srv.requests.clear()
    srv.clear_faults()
    srv.add_fault("Condition", "next-elsewhere", times=1, url=srv.origin + path + "?patient=p1")
    session = FhirClient(retries=0).bind(policy.vet(srv.base_url), "secret-token")
    # Refused, or the server had nothing there: either way only where the token went matters.
    with contextlib.suppress(FhirAccessDenied, FhirFetchError):
        session.fetch("Condition?patient=p1")
    assert srv.tokens_outside_the_base() == []
    try:  # the same path as a fhirServer: refused, or a base that stays under /fhir
        base = policy.check(srv.origin + path)
    except FhirAccessDenied:
        base = None
    if base is not None:
        read = as_a_lenient_server_reads(urlsplit(base).path)
        assert read == "/fhir" or read.startswith("/fhir/"), (path, base)
    GENERATED["hostile paths (next link and fhirServer)"] += 1
