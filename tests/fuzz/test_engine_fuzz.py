"""Random FHIR-ish patient records into the ELM engine and through the hook endpoints: the engine
either answers or raises its documented `ElmRuntimeError`; the endpoints never answer 500 and
every 200 is a valid CDS Hooks response."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.elm import ElmEngine, ElmRuntimeError, Terminology
from service.preview.records import prefetch_for
from tests.fuzz.conftest import GENERATED
from tests.fuzz.strategies import records, resources
from tests.support.cds_spec import assert_cds_rules

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
ENGINE_EXAMPLES = int(os.environ.get("FUZZ_ENGINE_EXAMPLES", "150"))
HOOK_EXAMPLES = int(os.environ.get("FUZZ_HOOK_EXAMPLES", "60"))


def fuzz(examples: int):
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )


PATIENT = "fuzz-patient"


@pytest.fixture(scope="module")
def engine() -> ElmEngine:
    terminology = Terminology.from_directory(ROOT / "plandefinitions")
    return ElmEngine.from_directory(ROOT / "cql" / "elm", terminology=terminology)


@pytest.mark.parametrize("library", ["AnalDilationRecommendations", "AnalDilationOrderSafety"])
def test_the_engine_evaluates_any_record_or_raises_its_documented_error(engine, library):
    now = datetime.now(UTC)
    outcomes = {"evaluated": 0, "runtime-error": 0}

    @fuzz(ENGINE_EXAMPLES)
    @given(record=records(PATIENT), as_bundle=st.booleans())
    def check(record, as_bundle):
        GENERATED[f"engine {library}"] += 1
        data = (
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": r} for r in record],
            }
            if as_bundle
            else record
        )
        try:
            results = engine.evaluate(library, data=data, now=now)
        except ElmRuntimeError:
            outcomes["runtime-error"] += 1
            return
        outcomes["evaluated"] += 1
        assert set(results) == set(engine.definitions(library))

    check()
    assert outcomes["evaluated"] > 0, outcomes


@pytest.mark.parametrize("hook", ["patient-view", "order-select", "order-sign"])
def test_the_hook_endpoint_answers_any_record_without_a_server_error(
    fuzz_app, outbound_connections, hook
):
    client = fuzz_app.test_client()
    services = [s for s in client.get("/cds-services").get_json()["services"] if s["hook"] == hook]
    assert services, f"no service answers {hook}"
    statuses: dict[int, int] = {}

    @fuzz(HOOK_EXAMPLES)
    @given(
        record=records(PATIENT),
        drafts=st.lists(resources(PATIENT).map(lambda r: {**r, "status": "draft"}), max_size=3),
        which=st.integers(min_value=0, max_value=len(services) - 1),
    )
    def check(record, drafts, which):
        GENERATED[f"hook {hook}"] += 1
        descriptor = services[which]
        context = {"userId": "Practitioner/fuzz", "patientId": PATIENT}
        if hook != "patient-view":
            context["draftOrders"] = {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": r} for r in drafts],
            }
        if hook == "order-select":
            context["selections"] = [
                f"{r['resourceType']}/{r['id']}" for r in drafts if isinstance(r.get("id"), str)
            ]
        body = {
            "hook": hook,
            "hookInstance": str(uuid.uuid4()),
            "context": context,
            "prefetch": prefetch_for(descriptor, record),
        }
        resp = client.post(f"/cds-services/{descriptor['id']}", json=body)
        statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1
        assert resp.status_code < 500, resp.get_data(as_text=True)[:300]
        if resp.status_code == 200:
            assert_cds_rules(resp.get_json())

    check()
    assert statuses.get(200, 0) > 0, statuses
    assert outbound_connections == []
