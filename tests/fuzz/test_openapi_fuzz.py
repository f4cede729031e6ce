"""Property-based fuzzing of the whole HTTP API from its OpenAPI document (schemathesis,
in-process WSGI): whatever the generated request, the answer is never a server error, and the
service never opens an outbound connection (no FHIR server is allowed in this app)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.fuzz.conftest import GENERATED

pytestmark = pytest.mark.slow
MAX_EXAMPLES = int(os.environ.get("FUZZ_OPENAPI_EXAMPLES", "40"))
OPENAPI = json.loads((Path(__file__).resolve().parents[2] / "service" / "openapi.json").read_text())
OPERATIONS = [
    (path, method)
    for path, item in OPENAPI["paths"].items()
    for method in item
    if method in {"get", "post", "put", "delete", "patch"}
]


@pytest.fixture(scope="module")
def api_schema(fuzz_app):
    return schemathesis.openapi.from_wsgi("/openapi.json", fuzz_app)


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_no_generated_request_gets_a_server_error(api_schema, outbound_connections, path, method):
    operation = api_schema[path][method]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def check(case):
        GENERATED[f"openapi {method.upper()} {path}"] += 1
        response = case.call()
        case.validate_response(response, checks=[not_a_server_error])

    check()
    assert outbound_connections == []
