"""docs/guideline.md is generated from the content and cannot drift from it."""

from __future__ import annotations

from tests.content.content import CQL_DIR, top_actions
from tools.guideline_doc import DOC, hegar_table, main, parameters, render


def test_committed_guideline_equals_a_fresh_generation():
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/guideline.md is stale: run .venv/bin/python -m tools.guideline_doc"
    )


def test_guideline_shows_every_card_with_its_rule_and_sources():
    text = render()
    for _, action in top_actions():
        assert action["title"] in text
        assert f"`{action['condition'][0]['expression']['expression']}`" in text
        for doc in action["documentation"]:
            assert doc["display"] in text


def test_guideline_lists_every_threshold_with_its_default_and_meaning():
    params = parameters(CQL_DIR)
    assert {p["name"] for p in params} >= {"Severe Pain Score", "Progression Failure Weeks"}
    assert all(p["meaning"] for p in params)


def test_hegar_table_is_read_from_the_cql():
    assert hegar_table(CQL_DIR)[0] == (1, 4, 12)
    assert hegar_table(CQL_DIR)[-1] == (156, None, 17)


def test_check_mode_reports_an_up_to_date_document(capsys):
    assert main(["--check"]) == 0
    assert "up to date" in capsys.readouterr().out
