"""The clinician preview in a real headless Chromium: scenario → hook call → cards → feedback,
pasted Bundles rendered safely, and the decision diagrams drawn from the loaded content."""

from __future__ import annotations

import json

import pytest

from service.conventions import INDICATOR
from tests.scenarios.loader import load_scenarios

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def _scenarios():
    return load_scenarios()


def _action_titles(app) -> dict[str, str]:
    kb = app.extensions["cds"].kb
    return {a["id"]: a["title"] for pd in kb.plan_definitions for a in pd.get("action") or ()}


def _first(kind: str, hook: str):
    for s in _scenarios():
        if s.kind == kind and s.hook == hook and s.expected["actions"]:
            return s
    pytest.fail(
        f"no {kind} {hook} scenario with expected actions in service/preview/example_patients"
    )


def _open(page, live_url):
    page.goto(live_url + "/preview")
    page.wait_for_selector("body[data-ready=true]")


def _run_scenario(page, live_url, slug):
    _open(page, live_url)
    page.select_option("#scenario", slug)
    page.click("#call")
    page.wait_for_function("document.querySelector('#status').textContent.startsWith('HTTP')")


def test_the_page_offers_every_bundled_scenario_patient(page, live_url):
    _open(page, live_url)
    offered = page.eval_on_selector_all("#scenario option", "os => os.map(o => o.value)")
    assert offered[1:] == [s.slug for s in _scenarios()]
    assert page.js_errors == []


def test_a_red_flag_patient_gets_a_critical_card_with_evidence_suggestions_and_raw_json(
    page, live_url, preview_app, screenshot
):
    s = _first("positive", "patient-view")
    titles = _action_titles(preview_app)
    _run_scenario(page, live_url, s.slug)
    assert page.inner_text("#status").startswith("HTTP 200")
    summaries = page.eval_on_selector_all(".card .summary", "ns => ns.map(n => n.textContent)")
    for action in s.expected["actions"]:
        assert titles[action] in summaries
    card = page.locator(".card", has_text=titles[s.expected["actions"][0]]).first
    response = json.loads(page.text_content("#response-json"))
    shown = next(c for c in response["cards"] if c["summary"] == titles[s.expected["actions"][0]])
    assert card.get_attribute("data-indicator") == shown["indicator"]
    assert "critical" in card.get_attribute("class").split()
    assert card.locator(".evidence li").count() >= 1
    assert card.locator(".suggestion").count() == len(shown.get("suggestions", []))
    assert card.locator(".detail strong").count() >= 1  # markdown bold rendered as elements
    request = json.loads(page.text_content("#request-json"))
    assert request["hook"] == "patient-view"
    assert request["context"]["patientId"] == s.patient_id
    screenshot(page, "preview-red-flag-card")
    assert page.js_errors == []


def test_accepting_a_suggestion_stores_exactly_that_feedback(page, live_url, preview_app):
    s = _first("positive", "patient-view")
    _run_scenario(page, live_url, s.slug)
    card = page.locator(".card").first
    card_uuid = card.get_attribute("data-card-uuid")
    suggestion_uuid = card.locator("button.accept").first.get_attribute("data-suggestion-uuid")
    card.locator("button.accept").first.click()
    page.wait_for_function(
        "document.querySelector('.card .feedback-state').textContent.startsWith('Feedback')"
    )
    assert card.locator(".feedback-state").inner_text() == "Feedback stored: accepted"
    stored = [
        f for f in preview_app.extensions["cds_store"].feedback() if f["card_uuid"] == card_uuid
    ]
    assert len(stored) == 1
    assert stored[0]["outcome"] == "accepted"
    assert stored[0]["accepted_suggestions"] == [suggestion_uuid]
    assert page.locator("#feedback-log li[data-status='200']").count() == 1


def test_overriding_a_card_with_a_reason_stores_the_reason_and_comment(page, live_url, preview_app):
    s = _first("positive", "patient-view")
    _run_scenario(page, live_url, s.slug)
    card = page.locator(".card").first
    card_uuid = card.get_attribute("data-card-uuid")
    response = json.loads(page.text_content("#response-json"))
    reason = next(c for c in response["cards"] if c["uuid"] == card_uuid)["overrideReasons"][0]
    card.locator("select.override-reason").select_option(label=reason["display"])
    card.locator("input.override-comment").fill("discussed with the patient today")
    card.locator("button.override").click()
    page.wait_for_function(
        "document.querySelector('.card .feedback-state').textContent.startsWith('Feedback')"
    )
    stored = [
        f
        for f in preview_app.extensions["cds_store"].feedback()
        if f["card_uuid"] == card_uuid and f["outcome"] == "overridden"
    ]
    assert len(stored) == 1
    assert (stored[0]["override_system"], stored[0]["override_code"]) == (
        reason["system"],
        reason["code"],
    )
    assert stored[0]["user_comment"] == "discussed with the patient today"


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
def test_order_hook_scenarios_send_their_draft_orders_and_show_the_expected_card(
    page, live_url, preview_app, hook
):
    s = _first("positive", hook)
    titles = _action_titles(preview_app)
    _run_scenario(page, live_url, s.slug)
    request = json.loads(page.text_content("#request-json"))
    assert request["hook"] == hook
    drafts = s.context["draftOrders"]["entry"]
    assert len(request["context"]["draftOrders"]["entry"]) == len(drafts)
    summaries = page.eval_on_selector_all(".card .summary", "ns => ns.map(n => n.textContent)")
    for action in s.expected["actions"]:
        assert titles[action] in summaries
    # a delete suggestion names each draft order it removes (no proposed resource to show)
    items = page.eval_on_selector_all(".suggestion li", "ns => ns.map(n => n.textContent)")
    deletes = [d for wanted in s.expected["suggestions"].values() for w in wanted
               for d in w.get("delete", [])]  # fmt: skip
    assert deletes, f"{s.slug} expects a delete suggestion"
    for resource_id in deletes:
        assert any(i.startswith("delete: ") and i.endswith(f" — {resource_id}") for i in items)


def test_a_near_miss_patient_does_not_get_the_rows_card(page, live_url, preview_app):
    titles = _action_titles(preview_app)
    s = next(
        s
        for s in _scenarios()
        if s.kind == "near-miss" and s.hook == "patient-view" and s.expected["absent_actions"]
    )
    _run_scenario(page, live_url, s.slug)
    summaries = page.eval_on_selector_all(".card .summary", "ns => ns.map(n => n.textContent)")
    assert page.inner_text("#status").startswith("HTTP 200")
    for action in s.expected["absent_actions"]:
        assert titles[action] not in summaries


def test_a_pasted_bundle_with_markup_in_its_data_is_shown_as_text_never_executed(page, live_url):
    s = _first("positive", "patient-view")
    hostile = '<img src=x onerror="window.__pwned=1">'
    bundle = json.loads(json.dumps(s.bundle))
    for entry in bundle["entry"]:
        r = entry["resource"]
        for coding in (r.get("code") or {}).get("coding") or ():
            coding["display"] = hostile
    _open(page, live_url)
    page.fill("#bundle", json.dumps(bundle))
    page.click("#call")
    page.wait_for_selector(".card")
    assert page.evaluate("window.__pwned") is None
    assert page.locator(".card img").count() == 0
    assert hostile in page.inner_text("#cards")  # the evidence names the coded finding


def test_the_markdown_renderer_builds_elements_and_drops_script_urls(page, live_url):
    _open(page, live_url)
    html = page.evaluate(
        """() => { const d = document.createElement('div');
        d.append(renderMarkdown('**Bold** <script>x</script>\\n\\n- [ok](https://example.org/a)\\n'
          + '- [bad](javascript:alert(1))\\n\\n1. one\\n2. two'));
        return d.innerHTML; }"""
    )
    assert "<strong>Bold</strong> &lt;script&gt;x&lt;/script&gt;" in html
    assert '<a href="https://example.org/a"' in html
    assert 'href="javascript' not in html
    assert "<ol><li>one</li><li>two</li></ol>" in html


def test_invalid_pasted_json_is_reported_without_calling_the_service(page, live_url):
    _open(page, live_url)
    page.fill("#bundle", "{not json")
    calls: list[str] = []
    page.on("request", lambda r: calls.append(r.url) if "/cds-services/" in r.url else None)
    page.click("#call")
    assert "not valid JSON" in page.inner_text("#status")
    assert calls == []


def test_the_diagram_draws_every_action_of_every_plan_definition(
    page, live_url, preview_app, screenshot
):
    page.goto(live_url + "/preview/diagram")
    kb = preview_app.extensions["cds"].kb
    for pd in kb.plan_definitions:
        section = page.locator(f"section[data-plan-definition='{pd['id']}']")
        assert section.count() == 1
        assert section.locator("h2").inner_text() == pd["title"]
        for action in pd["action"]:
            outcome = section.locator(f".box.outcome[data-action='{action['id']}']")
            assert outcome.locator(".title").inner_text() == action["title"]
            indicator = INDICATOR[action.get("priority", "routine")]
            assert indicator in outcome.get_attribute("class").split()
            condition = section.locator(f".box.condition[data-action='{action['id']}']")
            for cond in action.get("condition") or ():
                assert cond["expression"]["expression"] in condition.inner_text()
            children = action.get("action") or []
            choices = outcome.locator("xpath=following-sibling::div[contains(@class,'choices')][1]")
            assert choices.locator("li.choice").count() == len(children)
    screenshot(page, "preview-decision-diagram")
    assert page.js_errors == []


def test_every_scenario_renders_exactly_the_cards_the_service_returned(page, live_url):
    """Rendering fidelity: card count, order, indicator, summary, suggestions, links, reasons."""
    _open(page, live_url)
    for s in _scenarios():
        page.select_option("#scenario", s.slug)
        page.evaluate("document.querySelector('#status').textContent = ''")
        page.click("#call")
        page.wait_for_function("document.querySelector('#status').textContent.startsWith('HTTP')")
        response = json.loads(page.text_content("#response-json"))
        assert page.inner_text("#status").startswith("HTTP 200"), (s.slug, response)
        rendered = page.eval_on_selector_all(
            ".card",
            """cs => cs.map(c => ({
                uuid: c.dataset.cardUuid, indicator: c.dataset.indicator,
                summary: c.querySelector('.summary').textContent,
                suggestions: c.querySelectorAll('.suggestion').length,
                links: c.querySelectorAll('ul.links a').length,
                reasons: Math.max(0, c.querySelectorAll('.override-reason option').length - 1),
            }))""",
        )
        expected = [
            {
                "uuid": c["uuid"],
                "indicator": c["indicator"],
                "summary": c["summary"],
                "suggestions": len(c.get("suggestions", [])),
                "links": len(c.get("links", [])),
                "reasons": len(c.get("overrideReasons", [])),
            }
            for c in response["cards"]
        ]
        assert rendered == expected, s.slug
        shown = page.locator("#system-actions li").count()
        assert shown == len(response.get("systemActions", [])), s.slug
    assert page.js_errors == []


def test_with_client_jwts_verified_the_page_warns_and_shows_the_401(browser, tmp_path):
    from service.app import create_app
    from service.config import Settings
    from tests.support.live import LiveServer

    app = create_app(
        Settings(
            sqlite_path=tmp_path / "cds.sqlite3",
            external_base_url="http://127.0.0.1",  # required with client JWTs verified
            log_level="WARNING",
        )
    )
    context = browser.new_context()
    page = context.new_page()
    try:
        with LiveServer(app) as live:
            page.goto(live.url + "/preview")
            page.wait_for_selector("body[data-ready=true]")
            assert page.locator("#auth-banner").is_visible()
            # discovery itself needs a JWT: no service can be offered, and the page says why
            assert "GET /cds-services answered HTTP 401" in page.inner_text("#status")
            assert page.locator("#service option").count() == 0
    finally:
        context.close()
