"""Property-based fuzzing of the whole HTTP API from its OpenAPI document (schemathesis,
in-process WSGI): whatever the generated request — conforming to the document, deliberately
violating it, or conforming and aimed at a real service/artifact id so that it reaches the logic —
the answer is never a server error, and the service never opens an outbound connection (no FHIR
server is allowed in this app)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.fuzz.conftest import GENERATED

pytestmark = pytest.mark.slow
MAX_EXAMPLES = int(os.environ.get("FUZZ_OPENAPI_EXAMPLES", "50"))
OPENAPI = json.loads((Path(__file__).resolve().parents[2] / "service" / "openapi.json").read_text())
# Real ids per path prefix, so that generated requests also get past the 404 of a random id.
REAL_IDS = {
    "/cds-services/": "anal-dilation-recommendations",
    "/fhir/PlanDefinition/": "anal-dilation-recommendations",
    "/fhir/ActivityDefinition/": "home-dilator-program",
    "/fhir/ValueSet/": "anal-stenosis",
    "/fhir/Library/": "AnalDilationRecommendations",
}


def _real_id(path: str) -> str | None:
    if "{id}" not in path:
        return None
    return next((v for k, v in REAL_IDS.items() if path.startswith(k)), None)


CASES = []
for path, item in OPENAPI["paths"].items():
    for method in item:
        if method not in {"get", "post", "put", "delete", "patch"}:
            continue
        CASES.append((path, method, "positive"))
        if "requestBody" in item[method]:  # a JSON body can always be made to violate its schema
            CASES.append((path, method, "negative"))
        if _real_id(path):
            CASES.append((path, method, "positive, real id"))


@pytest.fixture(scope="module")
def api_schema(fuzz_app):
    return schemathesis.openapi.from_wsgi("/openapi.json", fuzz_app)


@pytest.mark.parametrize(
    ("path", "method", "variant"), CASES, ids=[f"{m} {p} ({v})" for p, m, v in CASES]
)
def test_no_generated_request_gets_a_server_error(
    api_schema, outbound_connections, path, method, variant
):
    operation = api_schema[path][method]
    mode = GenerationMode.NEGATIVE if variant == "negative" else GenerationMode.POSITIVE
    pinned = {"id": _real_id(path)} if variant == "positive, real id" else None
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=pinned)

    @given(case=strategy)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def check(case):
        GENERATED[f"openapi {variant}"] += 1
        response = case.call()
        case.validate_response(response, checks=[not_a_server_error])

    check()
    assert outbound_connections == []
