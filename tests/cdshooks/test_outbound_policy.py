"""Outbound policy: which fhirServer URLs the service may call, decided without connecting."""

from __future__ import annotations

import pytest

from service.fhirclient import FhirAccessDenied, OutboundPolicy

POLICY = OutboundPolicy(deployment_allowlist=("https://ehr.example/fhir",))


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
