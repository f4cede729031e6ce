"""Regenerate patient-view-lateral-fissure.json (the README's curl) from the bundled content.

    .venv/bin/python deploy/examples/make_example.py

The request is the R6 scenario "lateral anal fissure" dated at a fixed time, with a complete
prefetch for the current discovery templates (keys without data are null = no data).
tests/cdshooks/test_readme_example.py checks that the file still matches the service.
"""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent / "patient-view-lateral-fissure.json"
SERVICE = "anal-dilation-recommendations"


def build() -> dict:
    sys.path.insert(0, str(ROOT))
    from service.app import create_app
    from service.config import Settings
    from tests.scenarios.loader import CASES_DIR, load_scenario

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(auth_enabled=False, sqlite_path=Path(tmp) / "x.db", log_level="ERROR")
        services = create_app(settings).test_client().get("/cds-services").get_json()["services"]
    templates = next(s["prefetch"] for s in services if s["id"] == SERVICE)
    when = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    scenario = load_scenario(CASES_DIR / "r06-positive-lateral-fissure.json", when)
    record = [e["resource"] for e in scenario.bundle["entry"]]
    prefetch = {}
    for key, template in templates.items():
        rtype = template.split("?")[0].split("/")[0]
        matches = [r for r in record if r["resourceType"] == rtype]
        if "?" not in template:
            prefetch[key] = matches[0] if matches else None
        elif matches:
            prefetch[key] = {
                "resourceType": "Bundle",
                "type": "searchset",
                "entry": [{"resource": r} for r in matches],
            }
        else:
            prefetch[key] = None
    body = {
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/example", "patientId": scenario.patient_id},
        "prefetch": prefetch,
    }
    return json.loads(json.dumps(body).replace(scenario.patient_id, "example-patient"))


if __name__ == "__main__":
    OUT.write_text(json.dumps(build(), indent=1) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}")
