"""Card and suggestion text advises clinicians; it never instructs forceful dilation or stretch."""

from __future__ import annotations

import re

from tests.content.content import of_type, top_actions

ADVICE = re.compile(
    r"^(Consider|Refer|Review|Pause|Stop|Follow|Continue|If dilation is needed|Contact|Do not)"
)
NEGATION = re.compile(r"\b(not|never|no|abandoned|instead)\b", re.I)
RISKY = re.compile(r"stretch|forc", re.I)


def texts():
    """Every clinician- or patient-facing text: card titles/descriptions, suggestions, ADs."""
    for plan in of_type("PlanDefinition"):
        yield plan["id"], plan["description"]
        for action in plan["action"]:
            yield action["id"], action["title"]
            yield action["id"], action["description"]
            for child in action.get("action", []):
                yield child["id"], child["title"]
    for ad in of_type("ActivityDefinition"):
        yield ad["id"], ad["title"]
        yield ad["id"], ad["description"]


def sentences(text):
    return [s for s in re.split(r"(?<=[.;:])\s+|\n+", text) if s.strip()]


def test_stretch_and_force_are_only_ever_mentioned_to_rule_them_out():
    for where, text in texts():
        for sentence in sentences(text):
            if RISKY.search(sentence):
                assert NEGATION.search(sentence), f"{where}: {sentence!r}"


def test_recommendations_advise_rather_than_instruct():
    for _, action in top_actions():
        recommendation = action["description"].split("**Recommendation:** ", 1)[1]
        assert ADVICE.match(recommendation), f"{action['id']}: {recommendation[:60]!r}"


def test_uncontrolled_manual_stretch_is_never_a_suggestion():
    for ad in of_type("ActivityDefinition"):
        for coding in ad["code"]["coding"]:
            assert coding["code"] != "174365003", f"{ad['id']} proposes Lord's manual stretch"
