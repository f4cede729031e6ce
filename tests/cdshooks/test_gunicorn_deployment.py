"""The service as deployed: gunicorn with deploy/gunicorn.conf.py, bundled content, SQLite."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import requests

from benchmarks._server import free_port, start_gunicorn, stop

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "examples" / "patient-view-lateral-fissure.json"
SERVICE = "anal-dilation-recommendations"


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gunicorn")
    port = free_port()
    env = {
        "CDS_AUTH": "off",
        "CDS_SQLITE_PATH": str(tmp / "cds.sqlite3"),
        "WEB_CONCURRENCY": "2",
        "CDS_ACCESS_LOG": str(tmp / "access.log"),
        "PROMETHEUS_MULTIPROC_DIR": None,  # gunicorn.conf.py makes the metrics directory
    }
    try:
        proc = start_gunicorn(port, env, tmp / "error.log")
    except SystemExit as e:
        pytest.fail(str(e))
    try:
        yield f"http://127.0.0.1:{port}", tmp
    finally:
        stop(proc)
        proc.wait(timeout=30)


@pytest.mark.slow
def test_the_deployed_service_answers_the_readme_example_with_a_card(gunicorn):
    base, _ = gunicorn
    resp = requests.post(
        f"{base}/cds-services/{SERVICE}", json=json.loads(EXAMPLE.read_text()), timeout=10
    )
    assert resp.status_code == 200
    assert resp.json()["cards"][0]["indicator"] == "warning"


@pytest.mark.slow
def test_metrics_count_the_calls_of_every_worker(gunicorn):
    base, _ = gunicorn
    body = json.loads(EXAMPLE.read_text())
    before = _settled_cards(base)  # earlier calls of this module may still be unpublished
    for _ in range(10):
        assert (
            requests.post(f"{base}/cds-services/{SERVICE}", json=body, timeout=10).status_code
            == 200
        )
    assert _settled_cards(base) == before + 10


@pytest.mark.slow
def test_the_access_log_is_json_without_query_strings(gunicorn):
    base, tmp = gunicorn
    requests.get(base + "/healthz?token=secret-value", timeout=5)
    time.sleep(0.3)
    lines = [json.loads(line) for line in (tmp / "access.log").read_text().splitlines()]
    health = [entry for entry in lines if entry["path"] == "/healthz"]
    assert health and health[-1]["status"] == 200
    assert "secret-value" not in (tmp / "access.log").read_text()


def _settled_cards(base: str) -> float:
    """The cards counted by /metrics once every worker has published: workers publish about
    once a second (later on a loaded machine), so wait, bounded, until scrapes agree twice."""
    last = None
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        time.sleep(1.2)
        scrapes = {_cards(requests.get(base + "/metrics", timeout=5).text) for _ in range(4)}
        if len(scrapes) == 1 and scrapes == last:
            break
        last = scrapes
    assert last is not None and len(last) == 1, f"metrics did not settle: {last}"
    return next(iter(last))


def _cards(metrics_text: str) -> float:
    total = 0.0
    for line in metrics_text.splitlines():
        if line.startswith("cds_cards_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return total
