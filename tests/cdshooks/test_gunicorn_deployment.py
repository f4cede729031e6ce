"""The service as deployed: gunicorn with deploy/gunicorn.conf.py, bundled content, SQLite."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "examples" / "patient-view-lateral-fissure.json"
SERVICE = "anal-dilation-recommendations"


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gunicorn")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "CDS_AUTH": "off",
        "CDS_BIND": f"127.0.0.1:{port}",
        "CDS_SQLITE_PATH": str(tmp / "cds.sqlite3"),
        "WEB_CONCURRENCY": "2",
        "CDS_ACCESS_LOG": str(tmp / "access.log"),
    }
    env.pop("CDS_METRICS_DIR", None)
    gunicorn_bin = str(Path(sys.executable).with_name("gunicorn"))
    proc = subprocess.Popen(
        [gunicorn_bin, "-c", "deploy/gunicorn.conf.py", "service.app:create_app()"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / "error.log", "w"),  # noqa: SIM115 - closed with the process
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            assert proc.poll() is None, (tmp / "error.log").read_text()[-2000:]
            try:
                if requests.get(base + "/readyz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        else:
            pytest.fail("gunicorn did not become ready")
        yield base, tmp
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
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
    before = _cards(requests.get(base + "/metrics", timeout=5).text)
    for _ in range(10):
        assert (
            requests.post(f"{base}/cds-services/{SERVICE}", json=body, timeout=10).status_code
            == 200
        )
    # Workers publish their snapshots about once a second; on a loaded machine a publisher
    # thread can lag, so wait (bounded) until every scrape agrees, then check the sum.
    deadline = time.monotonic() + 15
    while True:
        time.sleep(1.0)
        scrapes = {_cards(requests.get(base + "/metrics", timeout=5).text) for _ in range(4)}
        if scrapes == {before + 10} or time.monotonic() > deadline:
            break
    assert scrapes == {before + 10}


@pytest.mark.slow
def test_the_access_log_is_json_without_query_strings(gunicorn):
    base, tmp = gunicorn
    requests.get(base + "/healthz?token=secret-value", timeout=5)
    time.sleep(0.3)
    lines = [json.loads(line) for line in (tmp / "access.log").read_text().splitlines()]
    health = [entry for entry in lines if entry["path"] == "/healthz"]
    assert health and health[-1]["status"] == 200
    assert "secret-value" not in (tmp / "access.log").read_text()


def _cards(metrics_text: str) -> float:
    total = 0.0
    for line in metrics_text.splitlines():
        if line.startswith("cds_cards_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return total
