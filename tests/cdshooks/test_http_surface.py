"""The rest of the HTTP surface: CORS, probes, metrics, OpenAPI, errors on unknown routes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.cdshooks.conftest import SERVICE, full_prefetch, pain, patient_view
from tests.support.cds_spec import assert_conforms, openapi

ROUTES = ["/cds-services", f"/cds-services/{SERVICE}", f"/cds-services/{SERVICE}/feedback"]


@pytest.mark.parametrize("path", ROUTES)
def test_cors_preflight_succeeds_on_every_cds_route_without_a_token(client, path):
    resp = client.options(
        path,
        headers={
            "Origin": "https://sandbox.cds-hooks.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    allowed = resp.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    assert "POST" in resp.headers["Access-Control-Allow-Methods"]


def test_responses_and_errors_carry_cors_headers(client, auth):
    path = f"/cds-services/{SERVICE}"
    ok = client.post(path, json=patient_view(full_prefetch(pain(8))), headers=auth(path))
    denied = client.post(path, json=patient_view())
    assert ok.headers["Access-Control-Allow-Origin"] == "*"
    assert denied.status_code == 401 and denied.headers["Access-Control-Allow-Origin"] == "*"


def test_cors_can_be_limited_to_configured_origins(make_app):
    client = make_app(cors_origins=("https://ehr.example",)).test_client()
    good = client.options("/cds-services", headers={"Origin": "https://ehr.example"})
    bad = client.options("/cds-services", headers={"Origin": "https://evil.example"})
    assert good.headers["Access-Control-Allow-Origin"] == "https://ehr.example"
    assert "Access-Control-Allow-Origin" not in bad.headers


def test_health_and_readiness(client):
    h = client.get("/healthz")
    r = client.get("/readyz")
    assert_conforms("/healthz", "GET", 200, h.get_json())
    assert_conforms("/readyz", "GET", 200, r.get_json())
    assert r.get_json()["checks"] == {"store": True, "content": True}


def test_readiness_fails_when_the_store_is_unreachable(client):
    store = client.application.extensions["cds_store"]
    store.ping = lambda: False
    r = client.get("/readyz")
    assert r.status_code == 503
    assert_conforms("/readyz", "GET", 503, r.get_json())


def test_metrics_count_latency_per_service_and_cards_by_indicator(client, auth):
    path = f"/cds-services/{SERVICE}"
    client.post(path, json=patient_view(full_prefetch(pain(8))), headers=auth(path))
    text = client.get("/metrics").get_data(as_text=True)
    assert f'cds_request_duration_seconds_count{{service="{SERVICE}"}} 1.0' in text
    assert f'cds_cards_total{{indicator="critical",service="{SERVICE}"}}' in text
    assert "# TYPE cds_request_duration_seconds histogram" in text


def test_the_openapi_document_is_served_and_describes_every_route(client):
    doc = client.get("/openapi.json").get_json()
    assert doc == openapi()
    rules = {
        r.rule.replace("<service_id>", "{id}").replace("<rtype>", "{type}").replace("<rid>", "{id}")
        for r in client.application.url_map.iter_rules()
        if r.endpoint != "static" and "<path:" not in r.rule  # the /fhir catch-all answers 404
    }
    assert rules <= set(doc["paths"]), rules - set(doc["paths"])


def test_unknown_routes_and_methods_answer_operation_outcomes(client):
    nf = client.get("/nope")
    assert nf.status_code == 404 and nf.get_json()["resourceType"] == "OperationOutcome"
    na = client.delete("/cds-services")
    assert na.status_code == 405 and na.get_json()["resourceType"] == "OperationOutcome"


WORKER = """
import sys
from service.observability import standard_metrics

m = standard_metrics(sys.argv[1])
m.inc("cds_cards_total", float(sys.argv[2]), service="s", indicator="info")
if len(sys.argv) > 3:
    m.observe("cds_request_duration_seconds", 0.004, service="s")
"""


def test_metrics_of_all_workers_are_summed_when_they_share_a_directory(tmp_path):
    """prometheus_client multiprocess mode: two worker processes write to the directory; a
    scrape answered by any process that reads the directory sees the sum."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for args in (["1"], ["2", "observe"]):
        subprocess.run([sys.executable, "-c", WORKER, str(tmp_path), *args], env=env, check=True)
    script = "from service.observability import standard_metrics; "
    script += f"print(standard_metrics({str(tmp_path)!r}).render())"
    text = subprocess.run(
        [sys.executable, "-c", script], env=env, check=True, capture_output=True, text=True
    ).stdout
    families = list(text_string_to_metric_families(text))  # valid Prometheus text
    assert {f.name for f in families} >= {"cds_cards", "cds_request_duration_seconds"}
    assert 'cds_cards_total{indicator="info",service="s"} 3.0' in text
    assert 'cds_request_duration_seconds_count{service="s"} 1.0' in text
    assert 'cds_request_duration_seconds_bucket{le="0.005",service="s"} 1.0' in text
    assert "# TYPE cds_request_duration_seconds histogram" in text


def test_single_process_metrics_are_valid_prometheus_text(client, auth):
    path = f"/cds-services/{SERVICE}"
    client.post(path, json=patient_view(full_prefetch(pain(8))), headers=auth(path))
    resp = client.get("/metrics")
    assert resp.mimetype == "text/plain"
    families = {f.name: f for f in text_string_to_metric_families(resp.get_data(as_text=True))}
    assert families["cds_cards"].type == "counter"
    assert families["cds_request_duration_seconds"].type == "histogram"
    assert families["cds_http_requests"].samples[0].labels.keys() == {"route", "status"}
    assert not any(name.endswith("_created") for name in families)


def test_every_schema_in_the_openapi_document_is_valid_json_schema():
    import jsonschema

    doc = openapi()
    assert doc["openapi"].startswith("3.1")
    for schema in doc["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method == "parameters":
                continue
            assert op["responses"], f"{method} {path} documents no response"
            for resp in op["responses"].values():
                for media in (resp.get("content") or {}).values():
                    jsonschema.Draft202012Validator.check_schema(media["schema"])
