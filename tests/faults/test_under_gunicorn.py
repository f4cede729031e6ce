"""The deployed configuration never hangs: the FHIR time budget fits inside gunicorn's worker
timeout, and a hook call against a misbehaving FHIR server gets its 412 from a real gunicorn
worker (the worker is not killed, the next call is answered)."""

from __future__ import annotations

import runpy
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import requests

from benchmarks._server import free_port, start_gunicorn, stop
from service.config import Settings
from service.fhirclient import FhirClient
from tests.faults.conftest import RED_FLAG, SERVICE
from tests.scenarios.loader import load_scenarios
from tests.support.fhir_server import FhirTestServer

ROOT = Path(__file__).resolve().parents[2]


def test_the_default_fhir_time_budget_ends_before_gunicorn_kills_the_worker():
    settings = Settings.from_env({})
    budget = FhirClient(
        connect_timeout=settings.fhir_connect_timeout,
        read_timeout=settings.fhir_read_timeout,
        retries=settings.fhir_retries,
        total_timeout=settings.fhir_total_timeout,
    ).total_timeout
    gunicorn = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))
    assert budget + 2.0 < gunicorn["timeout"], (budget, gunicorn["timeout"])


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["trickle", "delay"])
def test_a_hanging_fhir_server_gets_a_412_from_a_gunicorn_worker_within_budget(mode):
    scenario = next(s for s in load_scenarios() if s.slug == RED_FLAG)
    with FhirTestServer([e["resource"] for e in scenario.bundle["entry"]]) as fhir:
        fhir.add_fault("*", mode, seconds=8)
        tmp = Path(tempfile.mkdtemp(prefix="faults-gunicorn-"))
        env = {
            "WEB_CONCURRENCY": "2",
            "CDS_AUTH": "off",
            "DATABASE_URL": None,
            "CDS_SQLITE_PATH": str(tmp / "cds.sqlite3"),
            "CDS_FHIR_SERVER_ALLOWLIST": fhir.base_url,
            "CDS_FHIR_ALLOW_PRIVATE_ADDRESSES": "true",
            "CDS_FHIR_ALLOW_HTTP": "true",
            "CDS_FHIR_CONNECT_TIMEOUT": "0.5",
            "CDS_FHIR_READ_TIMEOUT": "0.5",
            "CDS_FHIR_RETRIES": "1",
        }
        port = free_port()
        proc = start_gunicorn(port, env, tmp / "gunicorn.err")
        try:
            body = {
                "hook": scenario.hook,
                "hookInstance": str(uuid.uuid4()),
                "fhirServer": fhir.base_url,
                "context": {"userId": "Practitioner/ehr", "patientId": scenario.patient_id},
            }
            url = f"http://127.0.0.1:{port}/cds-services/{SERVICE}"
            started = time.monotonic()
            resp = requests.post(url, json=body, timeout=30)
            elapsed = time.monotonic() - started
            fhir.clear_faults()
            again = requests.post(url, json={**body, "hookInstance": str(uuid.uuid4())}, timeout=30)
        finally:
            stop(proc)
    assert resp.status_code == 412
    assert resp.json()["resourceType"] == "OperationOutcome"
    assert elapsed < (0.5 + 0.5) * 2 + 1.5, f"{elapsed:.1f} s"
    assert again.status_code == 200
