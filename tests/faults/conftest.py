"""The real app (bundled content) calling a local FHIR test server that misbehaves on purpose.

Timeouts are short so that the suite stays fast; the time budget the service must keep is
derived from the same settings (docs/preview.md, "When the EHR's FHIR server misbehaves")."""

from __future__ import annotations

import pytest

from service.app import create_app
from service.config import Settings
from tests.scenarios.loader import load_scenarios
from tests.support.fhir_server import FhirTestServer

SERVICE = "anal-dilation-recommendations"
RED_FLAG = "r01-positive-perianal-abscess-after-program-start"
SETTINGS = dict(
    auth_enabled=False,
    allow_private_fhir_addresses=True,
    allow_http_fhir=True,
    fhir_connect_timeout=0.5,
    fhir_read_timeout=0.5,
    fhir_retries=1,
    fhir_max_pages=5,
    log_level="ERROR",
)
# One fetch may take (connect + read timeout) per attempt, with `retries` more attempts and their
# short backoff. The whole hook call must fit in one such worst-case fetch plus a margin for
# evaluation: a misbehaving server must cost the EHR one timeout, not one timeout per query.
BUDGET_SECONDS = (SETTINGS["fhir_connect_timeout"] + SETTINGS["fhir_read_timeout"]) * (
    SETTINGS["fhir_retries"] + 1
) + 1.0


@pytest.fixture(scope="module")
def scenario():
    return next(s for s in load_scenarios() if s.slug == RED_FLAG)


@pytest.fixture(scope="module")
def ehr_fhir(scenario):
    with FhirTestServer([e["resource"] for e in scenario.bundle["entry"]], page_size=2) as srv:
        yield srv


@pytest.fixture
def fhir(ehr_fhir):
    ehr_fhir.clear_faults()
    ehr_fhir.requests.clear()
    yield ehr_fhir
    ehr_fhir.clear_faults()


@pytest.fixture(scope="module")
def app(ehr_fhir, tmp_path_factory):
    settings = Settings(
        sqlite_path=tmp_path_factory.mktemp("faults") / "cds.sqlite3",
        fhir_server_allowlist=(ehr_fhir.base_url,),
        **SETTINGS,
    )
    return create_app(settings)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def expected_summaries(app, scenario):
    kb = app.extensions["cds"].kb
    titles = {a["id"]: a["title"] for pd in kb.plan_definitions for a in pd.get("action") or ()}
    return [titles[a] for a in scenario.expected["actions"]]
