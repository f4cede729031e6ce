"""Prefetch resolution against a live FHIR server: partial prefetch, paging, faults, outbound."""

from __future__ import annotations

import json

import pytest

from tests.cdshooks.conftest import SERVICE, full_prefetch, pain, patient, patient_view
from tests.support.fhir_server import FhirTestServer

PATH = f"/cds-services/{SERVICE}"
TOKEN = "ehr-access-token-123"
OBS_KEY = "Observation"


def authz() -> dict:
    return {
        "access_token": TOKEN,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "cds-service",
    }


@pytest.fixture
def fhir():
    with FhirTestServer([patient(), pain(8, "obs-server")]) as srv:
        yield srv


@pytest.fixture
def client(make_app, fhir):
    return make_app(fhir_server_allowlist=(fhir.base_url,)).test_client()


def call(client, auth, prefetch, fhir, **extra):
    body = patient_view(prefetch, fhirServer=fhir.base_url, fhirAuthorization=authz(), **extra)
    return client.post(PATH, json=body, headers=auth(PATH))


def test_an_absent_prefetch_key_is_fetched_from_the_fhir_server_with_the_token(client, auth, fhir):
    prefetch = full_prefetch()
    del prefetch[OBS_KEY]
    resp = call(client, auth, prefetch, fhir)
    assert resp.status_code == 200
    assert resp.get_json()["cards"][0]["indicator"] == "critical"  # from the fetched Observation
    (req,) = fhir.requests
    assert req.path == "/fhir/Observation"
    assert req.query["patient"] == ["p1"]
    assert req.query["code:in"] == ["https://dilation-cds.org/fhir/ValueSet/dilation-pain-score"]
    assert req.authorization == f"Bearer {TOKEN}"


def test_a_complete_prefetch_makes_no_fhir_request(client, auth, fhir):
    assert call(client, auth, full_prefetch(), fhir).status_code == 200
    assert fhir.requests == []


def test_no_prefetch_at_all_is_fetched_entirely(client, auth, fhir):
    resp = call(client, auth, None, fhir)
    assert resp.status_code == 200
    assert {r.path for r in fhir.requests} == {
        "/fhir/Patient/p1",
        "/fhir/Condition",
        "/fhir/Observation",
    }


def test_an_open_fhir_server_is_queried_without_a_token(client, auth, fhir):
    body = patient_view(None, fhirServer=fhir.base_url)
    assert client.post(PATH, json=body, headers=auth(PATH)).status_code == 200
    assert all(r.authorization is None for r in fhir.requests)


def test_an_operation_outcome_in_the_prefetch_is_fetched_again(client, auth, fhir):
    prefetch = full_prefetch()
    prefetch[OBS_KEY] = {"resourceType": "OperationOutcome", "issue": []}
    resp = call(client, auth, prefetch, fhir)
    assert resp.get_json()["cards"][0]["indicator"] == "critical"
    assert [r.path for r in fhir.requests] == ["/fhir/Observation"]


def test_a_paginated_prefetch_bundle_is_followed_on_the_fhir_server(client, auth, fhir):
    page1 = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": pain(1, "o-page1")}],
        "link": [{"relation": "next", "url": fhir.base_url + "/Observation?patient=p1&_page=0"}],
    }
    prefetch = full_prefetch()
    prefetch[OBS_KEY] = page1
    resp = call(client, auth, prefetch, fhir)
    assert resp.get_json()["cards"][0]["indicator"] == "critical"  # found on the next page
    assert [r.query.get("_page") for r in fhir.requests] == [["0"]]


def test_a_next_link_to_another_origin_is_not_followed_and_the_query_is_rerun(
    client, auth, fhir, fake_apply
):
    prefetch = full_prefetch()
    prefetch[OBS_KEY] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": pain(1, "o-page1")}],
        "link": [{"relation": "next", "url": "https://elsewhere.invalid/fhir/Observation?page=2"}],
    }
    resp = call(client, auth, prefetch, fhir)
    assert resp.status_code == 200
    assert [r.path for r in fhir.requests] == ["/fhir/Observation"]
    ids = {r["id"] for r in fake_apply.calls[-1]["data"] if r["resourceType"] == "Observation"}
    assert ids == {"obs-server"}


def test_server_pages_are_followed_up_to_the_page_cap(make_app, auth, fhir):
    fhir.add(*(pain(1, f"o{i}") for i in range(5)))
    fhir.page_size = 2
    client = make_app(fhir_server_allowlist=(fhir.base_url,), fhir_max_pages=10).test_client()
    prefetch = full_prefetch()
    del prefetch[OBS_KEY]
    assert call(client, auth, prefetch, fhir).status_code == 200
    assert len(fhir.requests_for("Observation")) == 3
    fhir.requests.clear()
    fhir.add_fault("Observation", "endless-pages")
    resp = call(client, auth, prefetch, fhir)
    assert resp.status_code == 412
    assert len(fhir.requests_for("Observation")) == 10


def test_a_server_next_link_to_another_origin_is_refused(client, auth, fhir):
    fhir.add(pain(2, "obs-second-page"))
    fhir.add_fault("Observation", "next-elsewhere", url="http://127.0.0.2:9/fhir/Observation?p=2")
    prefetch = full_prefetch()
    del prefetch[OBS_KEY]
    assert call(client, auth, prefetch, fhir).status_code == 412


def test_a_transient_server_error_is_retried(client, auth, fhir):
    fhir.add_fault("Observation", "status", status=503, times=1)
    prefetch = full_prefetch()
    del prefetch[OBS_KEY]
    assert call(client, auth, prefetch, fhir).status_code == 200
    assert len(fhir.requests_for("Observation")) == 2


@pytest.mark.parametrize(
    ("mode", "options"),
    [
        ("status", {"status": 500}),
        ("invalid-json", {}),
        ("operation-outcome", {}),
        ("delay", {"seconds": 3}),
    ],
)
def test_data_the_server_cannot_deliver_is_412(make_app, auth, fhir, mode, options):
    client = make_app(
        fhir_server_allowlist=(fhir.base_url,), fhir_read_timeout=0.5, fhir_retries=0
    ).test_client()
    fhir.add_fault("Observation", mode, **options)
    prefetch = full_prefetch()
    del prefetch[OBS_KEY]
    resp = call(client, auth, prefetch, fhir)
    assert resp.status_code == 412
    assert resp.get_json()["resourceType"] == "OperationOutcome"


def test_a_fhir_server_not_on_the_allow_list_is_never_contacted(make_app, auth, fhir):
    client = make_app(fhir_server_allowlist=("https://ehr.hospital.example/fhir",)).test_client()
    resp = call(client, auth, None, fhir)
    assert resp.status_code == 412
    assert "allow-list" in resp.get_data(as_text=True)
    assert fhir.requests == []


def test_loopback_and_private_addresses_are_refused_unless_explicitly_allowed(make_app, auth, fhir):
    client = make_app(
        fhir_server_allowlist=(fhir.base_url,), allow_private_fhir_addresses=False
    ).test_client()
    resp = call(client, auth, None, fhir)
    assert resp.status_code == 412
    assert "non-public address" in resp.get_data(as_text=True)
    assert fhir.requests == []


REFUSALS = {
    "not allow-listed": (
        {"fhir_server_allowlist": ("https://ehr.hospital.example/fhir",)},
        "fhirServer is not on the allow-list for this client",
    ),
    "not a public address": (
        {"allow_private_fhir_addresses": False},
        "fhirServer resolves to a non-public address",
    ),
    "not https": ({"allow_http_fhir": False}, "fhirServer must use https"),
}


@pytest.mark.parametrize("refusal", REFUSALS, ids=list(REFUSALS))
def test_a_refused_fhir_server_logs_why_without_its_url_or_token(
    make_app, auth, fhir, capsys, refusal
):
    overrides, reason = REFUSALS[refusal]
    client = make_app(**{"fhir_server_allowlist": (fhir.base_url,), **overrides}).test_client()
    capsys.readouterr()
    assert call(client, auth, None, fhir).status_code == 412
    err = capsys.readouterr().err
    records = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    (record,) = [r for r in records if r.get("event") == "prefetch unavailable"]
    assert record["level"] == "WARNING"
    assert record["reason"] == reason  # a category, not only the keys
    assert record["keys"]
    text = json.dumps(record)
    assert fhir.base_url not in text and "127.0.0.1" not in text and '"p1"' not in text
    assert TOKEN not in err


def test_plain_http_fhir_servers_are_refused_by_default(make_app, auth, fhir):
    client = make_app(fhir_server_allowlist=(fhir.base_url,), allow_http_fhir=False).test_client()
    assert call(client, auth, None, fhir).status_code == 412
    assert fhir.requests == []


def test_each_issuer_may_use_only_its_own_fhir_servers(make_app, ehr, fhir):
    import dataclasses

    from tests.support.jwt_keys import TestClient

    other = TestClient("https://other-ehr.example")
    base = make_app().extensions["cds"].settings
    issuers = (
        dataclasses.replace(base.trusted_issuers[0], fhir_servers=(fhir.base_url,)),
        dataclasses.replace(
            base.trusted_issuers[0], iss=other.iss, jwks=other.jwks(), fhir_servers=()
        ),
    )
    client = make_app(fhir_server_allowlist=(), trusted_issuers=issuers).test_client()
    aud = "http://localhost" + PATH
    body = patient_view(None, fhirServer=fhir.base_url, fhirAuthorization=authz())
    ok = client.post(PATH, json=body, headers={"Authorization": f"Bearer {ehr.token(aud)}"})
    assert ok.status_code == 200
    fhir.requests.clear()
    body = patient_view(None, fhirServer=fhir.base_url, fhirAuthorization=authz())
    refused = client.post(PATH, json=body, headers={"Authorization": f"Bearer {other.token(aud)}"})
    assert refused.status_code == 412
    assert fhir.requests == []


def test_a_server_without_value_set_searches_is_asked_again_without_the_filter(client, auth, fhir):
    fhir.add_fault("*", "reject-in")
    prefetch = full_prefetch()
    del prefetch[OBS_KEY]
    resp = call(client, auth, prefetch, fhir)
    assert resp.status_code == 200
    assert resp.get_json()["cards"][0]["indicator"] == "critical"
    first, second = fhir.requests
    assert "code:in" in first.query and "code:in" not in second.query
    assert second.query["patient"] == ["p1"]


def test_other_client_errors_are_not_retried_without_filters(client, auth, fhir):
    fhir.add_fault("*", "status", status=403)
    prefetch = full_prefetch()
    del prefetch[OBS_KEY]
    assert call(client, auth, prefetch, fhir).status_code == 412
    assert len(fhir.requests) == 1


# -- searches that report an error, relative next links ----------------------------------------
def outcome_entry(severity: str) -> dict:
    issue = {"severity": severity, "code": "exception", "diagnostics": "search failed"}
    return {
        "resource": {"resourceType": "OperationOutcome", "issue": [issue]},
        "search": {"mode": "outcome"},
    }


def test_a_prefetched_search_that_reports_an_error_is_fetched_again(client, auth, fhir):
    # 200 with no matches and an error outcome: the client's search failed, the record is not
    # empty; read as empty, the red flag on the server would be missed
    prefetch = full_prefetch()
    prefetch[OBS_KEY] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [outcome_entry("error")],
    }
    resp = call(client, auth, prefetch, fhir)
    assert resp.status_code == 200
    assert resp.get_json()["cards"][0]["indicator"] == "critical"  # the server's 8/10
    assert [r.path for r in fhir.requests] == ["/fhir/Observation"]


def test_a_prefetched_search_error_without_a_fhir_server_is_412(client, auth):
    prefetch = full_prefetch()
    prefetch[OBS_KEY] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [outcome_entry("fatal")],
    }
    resp = client.post(PATH, json=patient_view(prefetch), headers=auth(PATH))
    assert resp.status_code == 412


def test_a_warning_outcome_beside_the_matches_is_ordinary_data(client, auth, fhir):
    # near-miss: servers add warning/information outcomes ("results limited") to good results
    prefetch = full_prefetch(pain(8, "obs-prefetched"))
    prefetch[OBS_KEY]["entry"].append(outcome_entry("warning"))
    resp = call(client, auth, prefetch, fhir)
    assert resp.status_code == 200
    assert resp.get_json()["cards"][0]["indicator"] == "critical"
    assert fhir.requests == []


def test_a_fetched_search_that_reports_an_error_is_412(client, auth, fhir):
    fhir.add_fault("Observation", "error-in-searchset")
    prefetch = full_prefetch()
    del prefetch[OBS_KEY]
    assert call(client, auth, prefetch, fhir).status_code == 412


def test_a_fetched_warning_outcome_is_not_an_error(client, auth, fhir):
    fhir.add_fault("Observation", "error-in-searchset", severity="warning")
    prefetch = full_prefetch()
    del prefetch[OBS_KEY]
    assert call(client, auth, prefetch, fhir).status_code == 200


def test_relative_next_links_are_followed_on_the_same_base(client, auth, fhir):
    fhir.add(pain(1, "obs-second"))
    fhir.add_fault("Observation", "relative-next")
    prefetch = full_prefetch()
    del prefetch[OBS_KEY]
    resp = call(client, auth, prefetch, fhir)
    assert resp.status_code == 200
    assert [r.query.get("_page") for r in fhir.requests_for("Observation")] == [None, ["1"]]
