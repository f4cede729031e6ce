"""Outbound policy: which fhirServer URLs the service may call, decided without connecting."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from service.fhirclient import (
    FhirAccessDenied,
    OutboundPolicy,
    embedded_ipv4,
    is_public_address,
    normalise_path,
)

POLICY = OutboundPolicy(deployment_allowlist=("https://ehr.example/fhir",))
PUBLIC = "93.184.216.34"


def test_an_allow_listed_public_https_base_is_allowed_and_normalised(monkeypatch):
    monkeypatch.setattr(
        "service.fhirclient._addresses",
        lambda host, port: [__import__("ipaddress").ip_address("93.184.216.34")],
    )
    assert POLICY.check("https://EHR.example:443/fhir/") == "https://ehr.example/fhir"
    assert POLICY.check("https://ehr.example/fhir/r4") == "https://ehr.example/fhir/r4"


@pytest.mark.parametrize(
    "url",
    [
        "https://ehr.example/other",  # not under the allowed base
        "https://ehr.example.evil.test/fhir",  # look-alike host
        "https://ehr.example/fhirx",  # prefix trick
        "http://ehr.example/fhir",  # plain http
        "https://user:pw@ehr.example/fhir",  # credentials
        "https://ehr.example/fhir?x=1",  # query
        "file:///etc/passwd",
        "not a url",
    ],
)
def test_anything_else_is_refused(url):
    with pytest.raises(FhirAccessDenied):
        POLICY.check(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/fhir",
        "https://169.254.169.254/fhir",
        "https://10.0.0.5/fhir",
        "https://[::1]/fhir",
    ],
)
def test_loopback_link_local_and_private_addresses_are_refused_even_when_listed(url):
    policy = OutboundPolicy(deployment_allowlist=("*",))
    with pytest.raises(FhirAccessDenied, match="non-public"):
        policy.check(url)
    assert OutboundPolicy(deployment_allowlist=("*",), allow_private_addresses=True).check(url)


def test_an_issuer_list_adds_to_the_deployment_list():
    policy = OutboundPolicy(allow_private_addresses=True)
    with pytest.raises(FhirAccessDenied):
        policy.check("https://10.1.1.1/fhir")
    assert (
        policy.check("https://10.1.1.1/fhir", ("https://10.1.1.1/fhir",)) == "https://10.1.1.1/fhir"
    )


# -- paths: normalised (RFC 3986) before the allow-list compares them ------------------------------


@pytest.mark.parametrize(
    ("path", "normalised"),
    [
        ("/fhir", "/fhir"),
        ("/fhir/", "/fhir/"),
        ("/fhir/./Patient", "/fhir/Patient"),
        ("/fhir/r4/../Patient", "/fhir/Patient"),
        ("/fhir/..", "/"),
        ("/fhir/../../../admin", "/admin"),  # `..` above the root stays at the root
        ("/fhir/%2e%2e/admin", "/admin"),  # percent-encoded dots are dots
        ("/fhir/%2E%2e/admin", "/admin"),
        ("/fhir/.%2e/admin", "/admin"),
        ("/fhir/%2e./admin", "/admin"),
        ("/fhir/a/%2E/.%2E/%2e%2e/b", "/b"),
        ("/fhir//x/../y", "/fhir//y"),  # empty segments are segments
        ("/%66hir/Patient", "/fhir/Patient"),  # any unreserved character is decoded
        ("/fhir/%c3%a9", "/fhir/%C3%A9"),  # other escapes stay, in upper case
        ("/fhir/...", "/fhir/..."),  # not a dot segment
        ("/fhir/a;x/..", "/fhir/"),
    ],
)
def test_paths_are_normalised_as_rfc_3986_says(path, normalised):
    assert normalise_path(path) == normalised


@pytest.mark.parametrize(
    "path",
    [
        "/fhir/..%2fadmin",  # an encoded slash: a separator to some servers, a character to others
        "/fhir%2F..%2Fadmin",
        "/fhir/..%5cadmin",  # an encoded backslash
        "/fhir/..\\admin",  # a backslash: a separator to WHATWG parsers and some servers
        "/fhir/%252e%252e/admin",  # double encoding: `..` to a server that decodes twice
        "/fhir/..;x/admin",  # a dot segment with parameters: `..` to servers that drop them
        "/fhir/%2e%2e;/admin",
        "/fhir/..%3Bx/admin",
        "/fhir/.;x/admin",
        "/fhir/..%00/admin",
    ],
)
def test_paths_servers_read_differently_are_refused_rather_than_guessed(path):
    with pytest.raises(FhirAccessDenied):
        normalise_path(path)


@pytest.mark.parametrize(
    "url",
    [
        "https://ehr.example/fhir/../admin",
        "https://ehr.example/fhir/./../admin",
        "https://ehr.example/fhir/%2e%2e/admin",
        "https://ehr.example/fhir/%2E%2e/admin",
        "https://ehr.example/fhir/.%2e/admin",
        "https://ehr.example/fhir/r4/%2e%2e/%2E./.%2e/admin",
        "https://ehr.example/fhir/..",
        "https://ehr.example/fhir/..%2fadmin",
        "https://ehr.example/fhir%2f..%2fadmin",
        "https://ehr.example/fhir/..%5cadmin",
        "https://ehr.example/fhir\\..\\admin",
        "https://ehr.example/fhir/..;/admin",
        "https://ehr.example/fhir-evil",  # `/fhir` covers `/fhir/…` only, on a segment boundary
        "https://ehr.example/fhir-evil/../fhir-evil",
        "https://ehr.example/fhir/../fhir-evil",
        "https://ehr.example:99999/fhir",  # not a port: refused, not an error
        "https://[::1/fhir",
    ],
)
def test_a_fhir_server_whose_normalised_path_leaves_the_allowed_base_is_refused(url):
    with pytest.raises(FhirAccessDenied):
        POLICY.check(url)


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("https://ehr.example/fhir/r4/..", "https://ehr.example/fhir"),
        ("https://ehr.example/fhir/./r4/", "https://ehr.example/fhir/r4"),
        ("https://ehr.example/fhir/x/%2e%2e/r4", "https://ehr.example/fhir/r4"),
        ("https://ehr.example/%66hir", "https://ehr.example/fhir"),
    ],
)
def test_dot_segments_that_stay_inside_the_allowed_base_are_resolved(monkeypatch, url, base):
    monkeypatch.setattr(
        "service.fhirclient._addresses", lambda host, port: [ipaddress.ip_address(PUBLIC)]
    )
    assert POLICY.check(url) == base


@pytest.mark.parametrize(
    ("url", "entry", "allowed"),
    [
        ("https://ehr.example/fhir", "https://ehr.example/fhir/", True),
        ("https://ehr.example/fhir/r4", "https://ehr.example/fhir", True),
        ("https://ehr.example/fhir-evil", "https://ehr.example/fhir", False),
        ("https://ehr.example/fhir", "https://ehr.example/fhir/r4/..", True),  # entries normalised
        ("https://ehr.example/admin", "https://ehr.example/fhir/%2e%2e/admin", True),
        ("https://ehr.example/fhir", "https://ehr.example/fhir/..%2f", False),  # unusable entry
        ("https://ehr.example:8443/fhir", "https://ehr.example/fhir", False),
        ("https://ehr.example/fhir", "http://ehr.example/fhir", False),
    ],
)
def test_allow_list_entries_cover_their_own_normalised_path_and_below(
    monkeypatch, url, entry, allowed
):
    monkeypatch.setattr(
        "service.fhirclient._addresses", lambda host, port: [ipaddress.ip_address(PUBLIC)]
    )
    policy = OutboundPolicy(deployment_allowlist=(entry,), allow_http=True)
    if allowed:
        assert policy.check(url)
    else:
        with pytest.raises(FhirAccessDenied, match="allow-list"):
            policy.check(url)


# -- addresses: IPv6 forms that embed an IPv4 address are vetted by the IPv4 rules -----------------

# Teredo: 2001:0:<server IPv4>:<flags>:<port>:<client IPv4 XOR ffff:ffff>.
TEREDO_PUBLIC = "2001:0:808:808::fefe:fefe"  # server 8.8.8.8, client 1.1.1.1

NON_PUBLIC_ADDRESSES = [
    # IPv4 beyond what the standard library calls non-global
    "224.0.0.1",  # multicast
    "239.255.255.250",
    "100.64.0.1",  # carrier-grade NAT
    "0.1.2.3",  # 0.0.0.0/8
    "255.255.255.255",
    "198.18.0.1",  # benchmarking
    "192.88.99.1",  # 6to4 relay anycast
    # IPv4-mapped, IPv4-translated and IPv4-compatible
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:10.0.0.1",
    "::ffff:0:127.0.0.1",
    "::127.0.0.1",
    "::10.0.0.1",
    # NAT64, well-known prefix (IPv4 in the last 32 bits) and the local-use prefix
    "64:ff9b::7f00:1",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b::192.168.1.1",
    "64:ff9b::6440:1",  # 100.64.0.1
    "64:ff9b:1::808:808",  # local-use (RFC 8215): internal whatever it embeds
    # 6to4: the IPv4 address is bits 16-48
    "2002:7f00:1::",
    "2002:a9fe:a9fe::1",
    "2002:c0a8:101::",
    "2002:e000:1::",  # 224.0.0.1
    # Teredo: server or (de-obfuscated) client not public
    "2001:0:7f00:1::fefe:fefe",  # server 127.0.0.1
    "2001:0:808:808::80ff:fffe",  # client 127.0.0.1
    "2001:0:808:808::f5ff:fffe",  # client 10.0.0.1
    # IPv6 ranges
    "fec0::1",  # site-local
    "fd12:3456::1",  # unique-local
    "fc00::1",
    "fe80::1",  # link-local
    "ff02::1",  # multicast
    "ff0e::1",
    "::",  # unspecified
    "::1",
    "2001:db8::1",  # documentation
    "3fff::1",
    "100::1",  # discard
]

PUBLIC_ADDRESSES = [
    PUBLIC,
    "8.8.8.8",
    "2606:4700:4700::1111",
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8
    "64:ff9b::8.8.4.4",
    "2002:808:808::",  # 6to4 of 8.8.8.8
    "2002:0808:0808:1::1",
    "::ffff:8.8.8.8",  # IPv4-mapped 8.8.8.8
    TEREDO_PUBLIC,
]


def _literal(ip: str) -> str:
    return f"http://[{ip}]/fhir" if ":" in ip else f"http://{ip}/fhir"


ANY = OutboundPolicy(deployment_allowlist=("*",), allow_http=True)
ANY_PRIVATE_OK = OutboundPolicy(
    deployment_allowlist=("*",), allow_http=True, allow_private_addresses=True
)


@pytest.mark.parametrize("ip", NON_PUBLIC_ADDRESSES)
def test_a_literal_non_public_address_in_any_ipv6_disguise_is_refused(ip):
    assert not is_public_address(ipaddress.ip_address(ip))
    with pytest.raises(FhirAccessDenied, match="non-public"):
        ANY.check(_literal(ip))
    assert ANY_PRIVATE_OK.check(_literal(ip))  # the switch for hospital networks still works


@pytest.mark.parametrize("ip", PUBLIC_ADDRESSES)
def test_public_addresses_and_their_ipv6_embeddings_are_accepted(ip):
    assert is_public_address(ipaddress.ip_address(ip))
    vetted = ANY.vet(_literal(ip))
    assert ipaddress.ip_address(vetted.pin.address) == ipaddress.ip_address(ip)


def test_teredo_client_addresses_are_de_obfuscated_before_they_are_vetted():
    server, client = embedded_ipv4(ipaddress.IPv6Address(TEREDO_PUBLIC))
    assert (str(server), str(client)) == ("8.8.8.8", "1.1.1.1")
    assert embedded_ipv4(ipaddress.IPv6Address("2002:7f00:1::")) == (
        ipaddress.IPv4Address("127.0.0.1"),
    )
    assert embedded_ipv4(ipaddress.IPv6Address("2606:4700:4700::1111")) is None


def _dns(monkeypatch, answers: list[str]) -> None:
    """getaddrinfo answers `answers` (IPv4 and IPv6) for every host."""

    def fake(host, port, *args, **kwargs):
        return [
            (
                socket.AF_INET6 if ":" in ip else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (ip, port, 0, 0) if ":" in ip else (ip, port),
            )
            for ip in answers
        ]

    monkeypatch.setattr(socket, "getaddrinfo", fake)


@pytest.mark.parametrize("ip", NON_PUBLIC_ADDRESSES)
def test_every_dns_answer_is_vetted_by_the_same_rules(monkeypatch, ip):
    _dns(monkeypatch, [PUBLIC, ip])  # one bad answer among good ones is enough to refuse
    with pytest.raises(FhirAccessDenied, match="non-public"):
        POLICY.check("https://ehr.example/fhir")
    _dns(monkeypatch, [ip])
    with pytest.raises(FhirAccessDenied, match="non-public"):
        POLICY.check("https://ehr.example/fhir")
    private_ok = OutboundPolicy(
        deployment_allowlist=POLICY.deployment_allowlist, allow_private_addresses=True
    )
    assert private_ok.vet("https://ehr.example/fhir").pin.address == str(ipaddress.ip_address(ip))


@pytest.mark.parametrize("ip", PUBLIC_ADDRESSES)
def test_public_dns_answers_are_pinned(monkeypatch, ip):
    _dns(monkeypatch, [ip])
    vetted = POLICY.vet("https://ehr.example/fhir")
    assert ipaddress.ip_address(vetted.pin.address) == ipaddress.ip_address(ip)
