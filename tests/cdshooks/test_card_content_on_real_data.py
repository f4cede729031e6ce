"""What a clinician reads on the card, through a real hook call on the bundled content.

The scenarios (tests/scenarios) prove which cards fire; these specifications read the cards
themselves: the pediatric card states the age's Hegar target, children are dosed per the
pediatric protocol, escalation cards say how urgently, and every card's source links to a
published source rather than to a file of this repository.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from service.app import create_app
from service.config import Settings
from tests.cdshooks.test_scenarios_http import prefetch_for
from tests.scenarios.loader import CASES_DIR, load_scenario, load_scenarios

SERVICE = "anal-dilation-recommendations"
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    settings = Settings(
        auth_enabled=False,
        sqlite_path=tmp_path_factory.mktemp("db") / "cds.sqlite3",
        log_level="ERROR",
    )
    app = create_app(settings)
    services = app.test_client().get("/cds-services").get_json()["services"]
    templates = next(s["prefetch"] for s in services if s["id"] == SERVICE)
    return app.test_client(), templates


def cards_for(client, slug: str) -> list[dict]:
    http, templates = client
    scenario = load_scenario(CASES_DIR / f"{slug}.json", NOW)
    record = [e["resource"] for e in scenario.patient_data()["entry"]]
    body = {
        "hook": "patient-view",
        "hookInstance": "5d0f0d4e-4d5e-4c59-9c3a-2f2b1a0c9e11",
        "context": {"userId": "Practitioner/example", "patientId": scenario.patient_id},
        "prefetch": prefetch_for(templates, record),
    }
    resp = http.post(f"/cds-services/{SERVICE}", json=body)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["cards"]


def test_ten_month_old_after_anorectoplasty_is_told_the_hegar_14_target_on_the_card(client):
    (card,) = cards_for(client, "r13-positive-ten-month-old-card-states-hegar-14")
    assert "Hegar 14" in card["summary"] and len(card["summary"]) < 140
    assert "Target for this age: Hegar 14" in card["detail"]
    labels = {s["label"] for s in card["suggestions"]}
    assert "Refer to pediatric surgery for the dilation plan" in labels


def test_seven_month_old_is_told_the_hegar_13_target_not_a_fixed_text(client):
    (card,) = cards_for(client, "r13-positive-infant-three-weeks-after-psarp")
    assert "Hegar 13" in card["summary"]


def test_child_on_a_program_is_dosed_twice_daily_per_the_surgeon(client):
    (card,) = cards_for(client, "r17-positive-child-program-continues-twice-daily-per-surgeon")
    assert "twice daily" in card["detail"] and "Hegar 14" in card["detail"]
    assert "3-5 sessions per week" not in card["detail"]


def test_adult_on_a_program_keeps_the_adult_dose(client):
    cards = cards_for(client, "r17-near-miss-program-within-expiry-continues")
    (card,) = [c for c in cards if "continue" in c["summary"].lower()]
    assert "3-5 sessions per week" in card["detail"] and "twice daily" not in card["detail"]


def test_stenosis_with_an_active_abscess_names_the_infection_and_says_how_urgently(client):
    (card,) = cards_for(client, "r01-positive-mild-stenosis-with-active-abscess-before-any-program")
    assert card["indicator"] == "critical"
    assert "infection" in card["summary"].lower()
    assert re.search(r"same-day", card["summary"]) and "emergency" in card["detail"].lower()


@pytest.mark.parametrize(
    "slug",
    [
        s.slug
        for s in load_scenarios(NOW)
        if s.hook == "patient-view" and s.expected["actions"] and not s.parameters
    ],
)
def test_every_card_source_is_a_published_source_with_a_link(client, slug):
    for card in cards_for(client, slug):
        source = card["source"]
        assert source["url"].startswith("https://"), (slug, card["summary"])
        assert ".md" not in source["label"] and "docs/" not in source["label"], source
