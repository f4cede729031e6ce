"""The deployed configuration never hangs: the FHIR time budget fits inside gunicorn's worker
timeout, and a hook call against a misbehaving FHIR server gets its 412 from a real gunicorn
worker (the worker is not killed, the next call is answered)."""

from __future__ import annotations

import runpy
import tempfile
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

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


def gunicorn_config(monkeypatch, tmp_path, **env) -> dict:
    """deploy/gunicorn.conf.py as gunicorn reads it, under this environment."""
    # Its own metrics directory, not a temporary one made by the configuration.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    for name in ("CDS_FHIR_TOTAL_TIMEOUT", "CDS_FHIR_READ_TIMEOUT", "CDS_WORKER_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))


def starting(config: dict) -> None:
    """gunicorn's on_starting hook, with the worker timeout gunicorn would use."""
    server = SimpleNamespace(cfg=SimpleNamespace(timeout=config["timeout"]))
    config["on_starting"](server)


@pytest.mark.parametrize(
    "env",
    [
        {"CDS_FHIR_TOTAL_TIMEOUT": "30"},  # the budget equals the default worker timeout
        {"CDS_WORKER_TIMEOUT": "20"},  # the default budget: (2 + 5) x 3 + 0.5 = 21.5 s
        {"CDS_FHIR_READ_TIMEOUT": "10"},  # a derived budget: (2 + 10) x 3 + 0.5 = 36.5 s
    ],
    ids=["explicit budget", "shorter worker timeout", "derived budget"],
)
def test_start_up_is_refused_when_the_fhir_budget_does_not_end_before_the_worker_timeout(
    monkeypatch, tmp_path, env
):
    config = gunicorn_config(monkeypatch, tmp_path, **env)
    with pytest.raises(SystemExit) as refused:
        starting(config)
    message = str(refused.value.code)
    assert message.startswith("configuration error, the service does not start")
    assert "FHIR time budget" in message and "CDS_WORKER_TIMEOUT" in message


def test_a_budget_shorter_than_the_worker_timeout_starts(monkeypatch, tmp_path):
    starting(gunicorn_config(monkeypatch, tmp_path))  # the defaults: 21.5 s < 30 s
    starting(gunicorn_config(monkeypatch, tmp_path, CDS_FHIR_TOTAL_TIMEOUT="29.5"))
    starting(
        gunicorn_config(monkeypatch, tmp_path, CDS_WORKER_TIMEOUT="60", CDS_FHIR_TOTAL_TIMEOUT="45")
    )


@pytest.mark.slow
def test_gunicorn_refuses_to_start_with_a_fhir_budget_beyond_its_worker_timeout(tmp_path):
    env = {
        "CDS_AUTH": "off",
        "DATABASE_URL": None,
        "CDS_SQLITE_PATH": str(tmp_path / "cds.sqlite3"),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "CDS_WORKER_TIMEOUT": "10",
        "CDS_FHIR_TOTAL_TIMEOUT": "12",
    }
    with pytest.raises(SystemExit) as refused:
        start_gunicorn(free_port(), env, tmp_path / "gunicorn.err")
    assert "FHIR time budget of one hook call (12 s" in str(refused.value)
    assert "Traceback" not in (tmp_path / "gunicorn.err").read_text()
