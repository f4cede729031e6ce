"""The bearer token never leaves the fhirServer base path.

A `next` link (a server page or the client's prefetch), a URL built from a prefetch template and
the `fhirServer` itself are normalised as RFC 3986 says (percent-encoded dots decoded, dot
segments removed) before they are compared with the base, on a segment boundary (`/fhir` covers
`/fhir/…`, never `/fhir-evil`); what servers read differently (encoded slashes, backslashes,
double encoding, `..;x`) is refused. The normalised URL is the one requested.

The local FHIR test server records the path and Authorization header of every request; each test
reads those paths as the most lenient server would (`as_a_lenient_server_reads`) and proves no
request carrying the token resolves outside `/fhir`.
"""

from __future__ import annotations

import pytest

from service.fhirclient import FhirAccessDenied, FhirClient, OutboundPolicy
from tests.cdshooks.conftest import SERVICE, full_prefetch, pain, patient, patient_view
from tests.cdshooks.test_prefetch_resolution import authz as prefetch_authz
from tests.support.fhir_server import FhirTestServer, as_a_lenient_server_reads

PATH = f"/cds-services/{SERVICE}"
TOKEN = "ehr-access-token-456"
BASE_PATH = "/fhir"

# Paths (on the FHIR server's own origin) that leave `/fhir` once normalised, or that servers
# read differently and are therefore refused.
ESCAPING_PATHS = [
    "/fhir/../admin",
    "/fhir/./../admin",
    "/fhir/Condition/../../admin",
    "/fhir/%2e%2e/admin",
    "/fhir/%2E%2e/admin",
    "/fhir/%2e%2E/admin",
    "/fhir/.%2e/admin",
    "/fhir/%2e./admin",
    "/fhir/Condition/%2e%2e/%2E./.%2e/admin",
    "/fhir/./%2e/../%2e%2e/admin",
    "/fhir/..%2fadmin",
    "/fhir/%2F..%2Fadmin",
    "/fhir/..%5cadmin",
    "/fhir/..\\admin",
    "/fhir\\..\\admin",
    "/fhir/%252e%252e/admin",
    "/fhir/..;/admin",
    "/fhir/..%3b/admin",
    "/fhir-evil/Condition",
    "/fhir/../fhir-evil/Condition",
    "/fhir/%2e%2e/fhir-evil/Condition",
]

# Paths with dot segments that stay inside `/fhir`: followed, as their normalised form.
INSIDE_PATHS = [
    "/fhir/Patient/../Condition",
    "/fhir/./Condition",
    "/fhir/x/%2e%2e/Condition",
    "/fhir/x/y/.%2E/%2e%2e/Condition",
    "/fhir/%43ondition",  # an encoded unreserved character ("C")
]


def authz() -> dict:
    return {**prefetch_authz(), "access_token": TOKEN}


def conditions(n: int) -> list[dict]:
    return [
        {"resourceType": "Condition", "id": f"c{i}", "subject": {"reference": "Patient/p1"}}
        for i in range(n)
    ]


@pytest.fixture
def fhir():
    with FhirTestServer([patient(), pain(8, "obs-server"), *conditions(2)], page_size=1) as srv:
        yield srv


def session_on(server: FhirTestServer):
    policy = OutboundPolicy(
        deployment_allowlist=(server.base_url,), allow_http=True, allow_private_addresses=True
    )
    return FhirClient(retries=0).bind(policy.vet(server.base_url), TOKEN)


def test_the_lenient_reading_used_by_these_tests_sees_through_every_escaping_path():
    for path in ESCAPING_PATHS:
        read = as_a_lenient_server_reads(path)
        assert not (read == BASE_PATH or read.startswith(BASE_PATH + "/")), path
    for path in INSIDE_PATHS:
        assert as_a_lenient_server_reads(path).startswith(BASE_PATH + "/"), path


@pytest.mark.parametrize("path", ESCAPING_PATHS)
def test_a_server_next_link_that_leaves_the_base_path_is_not_followed(fhir, path):
    fhir.add_fault("Condition", "next-elsewhere", url=fhir.origin + path + "?patient=p1")
    with pytest.raises(FhirAccessDenied):
        session_on(fhir).fetch("Condition?patient=p1")
    assert [r.path for r in fhir.requests] == ["/fhir/Condition"]  # the first page only
    assert fhir.tokens_outside_the_base() == []


@pytest.mark.parametrize("path", INSIDE_PATHS)
def test_a_next_link_with_dot_segments_inside_the_base_is_followed_normalised(fhir, path):
    fhir.add_fault(
        "Condition", "next-elsewhere", times=1, url=fhir.origin + path + "?patient=p1&_page=1"
    )
    found = session_on(fhir).fetch("Condition?patient=p1")
    assert [r["id"] for r in found] == ["c0", "c1"]
    assert [r.path for r in fhir.requests] == ["/fhir/Condition", "/fhir/Condition"]
    assert {r.authorization for r in fhir.requests} == {f"Bearer {TOKEN}"}


@pytest.mark.parametrize(
    "query",
    [
        "../admin",
        "Patient/../../admin",
        "Patient/%2e%2e/%2e%2e/admin",
        "Patient/.%2E/%2E./admin",
        "Patient/..%2f..%2fadmin",
        "Patient/..%5c..%5cadmin",
        "Patient\\..\\..\\admin",
        "Patient/%252e%252e/%252e%252e/admin",
        "Patient/..;/..;/admin",
        "../fhir-evil/Patient/p1",
        "http://127.0.0.2/fhir/Patient/p1",
    ],
)
def test_a_url_built_from_a_prefetch_template_cannot_leave_the_base_path(fhir, query):
    with pytest.raises(FhirAccessDenied):
        session_on(fhir).fetch(query)
    assert fhir.requests == []


def test_a_template_url_with_dot_segments_inside_the_base_is_requested_normalised(fhir):
    assert session_on(fhir).fetch("Condition/%2e%2e/Patient/p1") == [patient()]
    assert [(r.path, r.authorization) for r in fhir.requests] == [
        ("/fhir/Patient/p1", f"Bearer {TOKEN}")
    ]


# -- through the hook: the same rules for the client's fhirServer and prefetch `next` links ------


def call(client, auth, prefetch, fhir_server: str):
    body = patient_view(prefetch, fhirServer=fhir_server, fhirAuthorization=authz())
    return client.post(PATH, json=body, headers=auth(PATH))


@pytest.fixture
def client(make_app, fhir):
    return make_app(fhir_server_allowlist=(fhir.base_url,)).test_client()


@pytest.mark.parametrize("path", ESCAPING_PATHS)
def test_a_fhir_server_outside_the_allowed_base_after_normalisation_gets_412(
    client, auth, fhir, path
):
    resp = call(client, auth, None, fhir.origin + path)
    assert resp.status_code == 412, resp.status_code
    assert resp.get_json()["resourceType"] == "OperationOutcome"
    assert fhir.requests == []


@pytest.mark.parametrize("suffix", ["/x/..", "/./", "/r4/%2e%2e", "/x/.%2e/"])
def test_a_fhir_server_with_dot_segments_inside_the_allowed_base_is_used_normalised(
    client, auth, fhir, suffix
):
    resp = call(client, auth, None, fhir.base_url + suffix)
    assert resp.status_code == 200
    assert fhir.requests and fhir.tokens_outside_the_base() == []
    assert {r.path for r in fhir.requests} == {
        "/fhir/Patient/p1",
        "/fhir/Condition",
        "/fhir/Observation",
    }


@pytest.mark.parametrize("path", ESCAPING_PATHS)
def test_a_prefetch_next_link_leaving_the_base_is_not_followed_and_the_query_is_rerun(
    client, auth, fhir, fake_apply, path
):
    prefetch = full_prefetch()
    prefetch["Observation"] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": pain(1, "o-page1")}],
        "link": [{"relation": "next", "url": fhir.origin + path + "/Observation?patient=p1"}],
    }
    resp = call(client, auth, prefetch, fhir.base_url)
    assert resp.status_code == 200
    assert [r.path for r in fhir.requests] == ["/fhir/Observation"]  # the whole query, re-run
    assert fhir.tokens_outside_the_base() == []
    ids = {r["id"] for r in fake_apply.calls[-1]["data"] if r["resourceType"] == "Observation"}
    assert ids == {"obs-server"}
