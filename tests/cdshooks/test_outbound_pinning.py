"""No DNS-rebinding window: every outbound FHIR connection goes to the address the policy vetted,
while the original host name is kept for the Host header, TLS SNI and certificate checks."""

from __future__ import annotations

import socket

import pytest
import requests
import urllib3.util.connection

from service.fhirclient import (
    FhirAccessDenied,
    FhirClient,
    FhirFetchError,
    OutboundPolicy,
    Pin,
    PinnedAddressAdapter,
)
from tests.support.fhir_server import FhirTestServer

PUBLIC = "93.184.216.34"
HOST = "fhir.rebind.test"
PATIENT = {"resourceType": "Patient", "id": "p1"}


@pytest.fixture
def fhir():
    with FhirTestServer([PATIENT], page_size=1) as server:
        yield server


def _resolver(monkeypatch, answers: list[str]) -> list[str]:
    """getaddrinfo for HOST answers `answers` in turn (the last one repeats); others are real."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def fake(host, port, *args, **kwargs):
        if host != HOST:
            return real(host, port, *args, **kwargs)
        ip = answers[min(len(asked), len(answers) - 1)]
        asked.append(ip)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port or 0))]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return asked


def _connections(monkeypatch, refuse: set[str]) -> list[str]:
    """Record every address urllib3 connects to; refuse (without connecting) those in `refuse`."""
    real = urllib3.util.connection.create_connection
    seen: list[str] = []

    def fake(address, *args, **kwargs):
        seen.append(address[0])
        if address[0] in refuse:
            raise ConnectionRefusedError("test: not reachable")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", fake)
    return seen


def test_a_rebinding_dns_answer_cannot_point_the_connection_at_loopback(monkeypatch, fhir):
    base = f"http://{HOST}:{fhir._port}/fhir"
    policy = OutboundPolicy(deployment_allowlist=(base,), allow_http=True)
    asked = _resolver(monkeypatch, [PUBLIC, "127.0.0.1"])
    connected = _connections(monkeypatch, refuse={PUBLIC})
    session = FhirClient(retries=1, connect_timeout=0.5, read_timeout=0.5).bind(
        policy.vet(base), None
    )
    with pytest.raises(FhirFetchError):
        session.fetch("Patient/p1")
    assert asked == [PUBLIC], "the host must be resolved once, by the policy"
    assert connected and set(connected) == {PUBLIC}  # first attempt and its retry
    assert fhir.requests == []


def test_retries_stay_on_the_vetted_address_and_keep_the_host_name(monkeypatch, fhir):
    fhir.add_fault("Patient", "status", times=1, status=503)
    base = f"http://{HOST}:{fhir._port}/fhir"
    policy = OutboundPolicy(
        deployment_allowlist=(base,), allow_http=True, allow_private_addresses=True
    )
    asked = _resolver(monkeypatch, ["127.0.0.1", "10.9.9.9"])
    connected = _connections(monkeypatch, refuse={"10.9.9.9"})
    session = FhirClient(retries=2).bind(policy.vet(base), "tok")
    assert session.fetch("Patient/p1") == [PATIENT]
    assert len(fhir.requests) == 2  # the 503, then its retry
    assert asked == ["127.0.0.1"] and set(connected) == {"127.0.0.1"}
    assert {r.host for r in fhir.requests} == {f"{HOST}:{fhir._port}"}
    assert {r.authorization for r in fhir.requests} == {"Bearer tok"}


def test_a_normal_paged_search_against_the_local_test_server_works(fhir):
    fhir.add({"resourceType": "Patient", "id": "p2"})
    policy = OutboundPolicy(
        deployment_allowlist=(fhir.base_url,), allow_http=True, allow_private_addresses=True
    )
    session = FhirClient().bind(policy.vet(fhir.base_url), None)
    assert [p["id"] for p in session.fetch("Patient?_count=1")] == ["p1", "p2"]
    assert len(fhir.requests) == 2  # the `next` page went through the same pinned session
    assert {r.host for r in fhir.requests} == {f"127.0.0.1:{fhir._port}"}


def test_https_pools_connect_to_the_ip_but_verify_the_certificate_for_the_host_name():
    adapter = PinnedAddressAdapter()
    pin = Pin(hostname="ehr.example", address=PUBLIC, port=443, scheme="https")
    prepared = requests.Request("GET", "https://ehr.example/fhir/Patient/1").prepare()
    prepared.fhir_pin = pin
    host_params, pool_kwargs = adapter.build_connection_pool_key_attributes(prepared, True)
    assert host_params == {"scheme": "https", "host": PUBLIC, "port": 443}
    assert pool_kwargs["server_hostname"] == "ehr.example"  # SNI
    assert pool_kwargs["assert_hostname"] == "ehr.example"  # certificate name check
    assert pool_kwargs["cert_reqs"] == "CERT_REQUIRED"
    pool = adapter.get_connection_with_tls_context(prepared, True)
    assert (pool.host, pool.port) == (PUBLIC, 443)
    assert pool.conn_kw["server_hostname"] == "ehr.example"
    assert pool.assert_hostname == "ehr.example" and pool.cert_reqs == "CERT_REQUIRED"
    conn = pool._new_conn()  # not connected yet: only its targets are inspected
    assert (conn.host, conn.server_hostname, conn.assert_hostname) == (
        PUBLIC,
        "ehr.example",
        "ehr.example",
    )
    v6 = Pin(hostname="ehr.example", address="2606:2800:220:1::1", port=8443, scheme="https")
    prepared = requests.Request("GET", "https://ehr.example:8443/fhir").prepare()
    prepared.fhir_pin = v6
    assert adapter.build_connection_pool_key_attributes(prepared, True)[0]["host"] == (
        "[2606:2800:220:1::1]"
    )
    assert v6.host_header == "ehr.example:8443" and pin.host_header == "ehr.example"


@pytest.mark.parametrize(
    "url",
    ["https://other.example/fhir/Patient/1", "http://ehr.example/fhir", "https://ehr.example:444/"],
)
def test_a_request_without_a_matching_pin_is_refused_before_connecting(url):
    adapter = PinnedAddressAdapter()
    prepared = requests.Request("GET", url).prepare()
    with pytest.raises(FhirAccessDenied):
        adapter.send(prepared)
    prepared.fhir_pin = Pin(hostname="ehr.example", address=PUBLIC, port=443, scheme="https")
    with pytest.raises(FhirAccessDenied):
        adapter.send(prepared)


def _self_signed(tmp_path, name: str):
    """A certificate for DNS name `name` only (no IP address), and its key, as PEM files."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def https_fhir(tmp_path):
    """The test FHIR server behind TLS with a certificate for HOST (not for 127.0.0.1)."""
    import ssl

    cert, key = _self_signed(tmp_path, HOST)
    with FhirTestServer([PATIENT]) as server:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server._httpd.socket = context.wrap_socket(server._httpd.socket, server_side=True)
        yield server, cert


@pytest.mark.parametrize("name, ok", [(HOST, True), ("other.rebind.test", False)])
def test_https_to_the_pinned_ip_verifies_the_certificate_against_the_host_name(
    monkeypatch, https_fhir, name, ok
):
    server, cert = https_fhir
    real = socket.getaddrinfo
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, port, *a, **k: real("127.0.0.1" if host == name else host, port, *a, **k),
    )
    base = f"https://{name}:{server._port}/fhir"
    policy = OutboundPolicy(deployment_allowlist=(base,), allow_private_addresses=True)
    client = FhirClient(retries=0)
    client.session.verify = str(cert)
    session = client.bind(policy.vet(base), None)
    assert session.pin.address == "127.0.0.1"
    if ok:
        assert session.fetch("Patient/p1") == [PATIENT]
        assert server.requests[0].host == f"{HOST}:{server._port}"
    else:  # the certificate names HOST, not this host nor the IP: refused before any request
        with pytest.raises(FhirFetchError):
            session.fetch("Patient/p1")
        assert server.requests == []
