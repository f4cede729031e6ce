"""The request shipped for the README's curl gets its card from the bundled content."""

from __future__ import annotations

import json
from pathlib import Path

from service.app import create_app
from service.config import Settings
from tests.support.cds_spec import assert_conforms

EXAMPLE = (
    Path(__file__).resolve().parents[2]
    / "deploy"
    / "examples"
    / "patient-view-lateral-fissure.json"
)
PATH = "/cds-services/anal-dilation-recommendations"


def test_the_readme_example_request_gets_the_specialty_care_card(tmp_path):
    app = create_app(
        Settings(auth_enabled=False, sqlite_path=tmp_path / "cds.sqlite3", log_level="ERROR")
    )
    client = app.test_client()
    services = client.get("/cds-services").get_json()["services"]
    body = json.loads(EXAMPLE.read_text())
    template_keys = next(s["prefetch"] for s in services if s["id"] == PATH.rsplit("/", 1)[1])
    assert set(body["prefetch"]) == set(template_keys), (
        "regenerate the example: prefetch keys changed"
    )
    resp = client.post(PATH, json=body)
    assert resp.status_code == 200
    assert_conforms(PATH, "POST", 200, resp.get_json())
    (card,) = resp.get_json()["cards"]
    assert card["indicator"] in ("warning", "critical")
    assert "specialty" in card["summary"].lower()
