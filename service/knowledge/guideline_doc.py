"""Generate docs/guideline.md, the rules as a clinician reads them, from the content itself.

    python -m service.knowledge.guideline_doc [--check]

Everything in the document comes from ``plandefinitions/`` (cards, suggestions, sources,
strength of recommendation, terminology) and ``cql/`` (thresholds with their documented defaults,
the pediatric Hegar table), so the document cannot drift from what the service does: a test
fails when the committed document differs from a fresh generation (``--check`` does the same).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from service import conventions
from service.knowledge.expressions import action_text_element

ROOT = Path(__file__).resolve().parents[2]
CONTENT_DIR = ROOT / "plandefinitions"
CQL_DIR = ROOT / "cql"
DOC = ROOT / "docs" / "guideline.md"
STRENGTH = conventions.CPG_STRENGTH
QUALITY = conventions.CPG_QUALITY
EVIDENCE = conventions.EVIDENCE_EXPRESSION
OVERRIDE = conventions.OVERRIDE_REASON
RECOMMENDED = conventions.IS_RECOMMENDED
TARGET = conventions.TARGET_EXPRESSION
INDICATOR = conventions.INDICATOR
OUTCOME = {
    "stat": "Escalate",
    "urgent": "Specialty / professional",
    "routine": "Home / information",
}


def _load(content_dir: Path) -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(content_dir.rglob("*.json"))]


def _ext(element: dict, url: str) -> list[dict]:
    return [e for e in element.get("extension", []) if e["url"] == url]


def _code(element: dict, url: str) -> str:
    found = _ext(element, url)
    return found[0]["valueCodeableConcept"]["coding"][0]["code"] if found else "-"


def _row_key(action: dict) -> tuple:
    prefix = action.get("prefix", "")
    number = int(prefix[1:]) if prefix[1:].isdigit() else 99
    return (number, action["priority"] != "stat", action["id"])


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _condition(action: dict) -> str:
    return " and ".join(f"`{c['expression']['expression']}`" for c in action.get("condition", []))


def computed_text(action: dict) -> str:
    """For an action whose `action.*` dynamicValues compute the card text (the static text
    being the fallback): 'title from `X`; description from `Y`'; '' when there are none."""
    parts = []
    for dv in action.get("dynamicValue", []):
        element = action_text_element(dv.get("path"))
        if element is not None:
            parts.append(f"{element} from `{dv['expression']['expression']}`")
    return "; ".join(parts)


def parameters(cql_dir: Path) -> list[dict[str, str]]:
    """CQL parameters with their type, default and the comment above them."""
    out = []
    pattern = re.compile(r'^parameter "([^"]+)" (.+?)(?: default (.+))?$')
    for path in sorted(cql_dir.glob("*.cql")):
        if path.name == "FHIRHelpers.cql":
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            m = pattern.match(line)
            if not m:
                continue
            j = i - 1
            while j >= 0 and lines[j].startswith("parameter "):
                j -= 1
            comment = []
            if lines[j].rstrip().endswith("*/"):
                while j >= 0:
                    comment.insert(0, lines[j])
                    if lines[j].lstrip().startswith("/*"):
                        break
                    j -= 1
            text = " ".join(
                c.strip().removeprefix("/*").removesuffix("*/").strip() for c in comment
            )
            out.append(
                {
                    "name": m.group(1),
                    "type": m.group(2),
                    "default": m.group(3) or "(none: supplied per request)",
                    "meaning": text,
                    "library": path.stem,
                }
            )
    return out


def hegar_table(cql_dir: Path) -> list[tuple[int, int | None, int]]:
    text = (cql_dir / "AnalDilationRecommendations.cql").read_text(encoding="utf-8")
    rows = re.findall(
        r"Tuple \{ fromMonths: (\d+), toMonths: (\d+|null as Integer), hegarSize: (\d+) \}", text
    )
    return [(int(a), None if not b.isdigit() else int(b), int(c)) for a, b, c in rows]


def _age(months: int) -> str:
    if months < 12 or months % 12:
        return f"{months} month{'s' if months != 1 else ''}"
    years = months // 12
    return f"{years} year{'s' if years != 1 else ''}"


def render(content_dir: Path = CONTENT_DIR, cql_dir: Path = CQL_DIR) -> str:
    resources = _load(content_dir)
    plans = [r for r in resources if r["resourceType"] == "PlanDefinition"]
    plans.sort(key=lambda p: -len(p["action"]))  # the main recommendations first
    ads = {r["url"]: r for r in resources if r["resourceType"] == "ActivityDefinition"}
    value_sets = [r for r in resources if r["resourceType"] == "ValueSet"]
    out: list[str] = [
        "# Anal dilation guideline: professional versus clinician-prescribed home dilation",
        "",
        "<!-- GENERATED by `python -m service.knowledge.guideline_doc` from plandefinitions/ and"
        " cql/. Do not edit by hand: change the content and regenerate. -->",
        "",
    ]
    for plan in plans:
        out += [f"**{plan['title']}** (`{plan['url']}`): {plan['description']}", ""]
    out += [
        f"Usage: {plans[0]['usage']}",
        "",
        "Precedence: safety rows first. Escalation cards (critical) always show; specialty"
        " evaluation cards show unless an escalation fires; professional and home cards show only"
        " when no escalation fires and no evaluation is pending, and home cards only when no home"
        " contraindication fires. A surgeon-directed pediatric protocol (R13, R15) is itself the"
        " specialty setting that R7 asks for.",
        "",
        "## Decision rows",
        "",
        "| Row | Card summary | Outcome (indicator) | Hooks | Fires when | Strength / quality |",
        "|---|---|---|---|---|---|",
    ]
    actions = [(p, a) for p in plans for a in p["action"]]
    actions.sort(key=lambda pa: _row_key(pa[1]))
    for _, a in actions:
        hooks = ", ".join(t["name"] for t in a["trigger"])
        outcome = f"{OUTCOME[a['priority']]} ({INDICATOR[a['priority']]})"
        grade = f"{_code(a, STRENGTH)} / {_code(a, QUALITY)}"
        out.append(
            f"| {a.get('prefix', 'order')} | {_cell(a['title'])} | {outcome} | {hooks} | "
            f"{_condition(a)} | {grade} |"
        )
    out += ["", "## Cards in detail", ""]
    for _, a in actions:
        out += [
            f"### {a.get('prefix', 'Order check')}: {a['title']}",
            "",
            f"Action id `{a['id']}`.",
            "",
        ]
        out += [a["description"], ""]
        if computed_text(a):
            out += [f"Computed text: {computed_text(a)}.", ""]
        children = a.get("action", [])
        if children:
            out.append(f"Suggestions ({a['selectionBehavior']}):")
            out.append("")
            for c in children:
                flags = []
                if _ext(c, RECOMMENDED):
                    flags.append("recommended")
                for cond in c.get("condition", []):
                    flags.append(f"only when `{cond['expression']['expression']}`")
                suffix = f" ({'; '.join(flags)})" if flags else ""
                if computed_text(c):
                    suffix += f" (computed text: {computed_text(c)})"
                if _ext(c, TARGET):  # a remove action: deletes what its target returns
                    target = _ext(c, TARGET)[0]["valueExpression"]["expression"]
                    note = c.get("description", "")
                    out.append(f"- {c['title']}{suffix}: delete each of `{target}`. {note}")
                    continue
                ad = ads[c["definitionCanonical"]]
                out.append(
                    f"- {c['title']}{suffix}: {ad['kind']} `{ad['id']}`. {ad['description']}"
                )
            out.append("")
        evidence = _ext(a, EVIDENCE)[0]["valueExpression"]["expression"]
        reasons = ", ".join(e["valueCoding"]["display"] for e in _ext(a, OVERRIDE))
        out += [f"Evidence shown on the card: `{evidence}`. Override reasons: {reasons}.", ""]
        out.append("Sources:")
        out.append("")
        for d in a["documentation"]:
            link = f" <{d['url']}>" if d.get("url") else ""
            out.append(f"- {d['type']}: {d['display']}{link}")
        out.append("")
    out += [
        "## Configurable thresholds",
        "",
        "Thresholds without a published number are CQL parameters. A deployment sets its own"
        " values in `CDS_CQL_PARAMETERS_FILE` (a FHIR Parameters resource; docs/deploy.md),"
        " used by every CDS Hooks call and `$apply`; a `$apply` request may pass its own"
        " `parameters`, which win. `Selections` is set per order-select call.",
        "",
        "| Parameter | Type | Default | Meaning | Library |",
        "|---|---|---|---|---|",
    ]
    for p in parameters(cql_dir):
        meaning = _cell(p["meaning"])
        out.append(f"| {p['name']} | {p['type']} | `{p['default']}` | {meaning} | {p['library']} |")
    out += [
        "",
        "## Pediatric target Hegar size (Cincinnati table; needs clinical sign-off)",
        "",
        "| Age from | Age below | Target Hegar size |",
        "|---|---|---|",
    ]
    for low, high, size in hegar_table(cql_dir):
        out.append(f"| {_age(low)} | {_age(high) if high is not None else '-'} | {size} |")
    out += ["", "Under 1 month there is no row: the surgeon sets the target.", "", "## Sources", ""]
    seen: dict[str, dict] = {}
    for _, a in actions:
        for d in a["documentation"]:
            seen.setdefault(d["display"], d)
    for display in sorted(seen):
        d = seen[display]
        citation = f" {d['citation']}" if d.get("citation") else ""
        link = f" <{d['url']}>" if d.get("url") else ""
        out.append(f"- {display}.{citation}{link}")
    out += [
        "",
        "## Terminology",
        "",
        "| Value set | Codes | Systems |",
        "|---|---|---|",
    ]
    for vs in sorted(value_sets, key=lambda v: v["title"]):
        systems = sorted({inc["system"].rsplit("/", 1)[-1] for inc in vs["compose"]["include"]})
        count = sum(len(inc["concept"]) for inc in vs["compose"]["include"])
        out.append(f"| {vs['title']} (`{vs['id']}`) | {count} | {', '.join(systems)} |")
    out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if docs/guideline.md is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not DOC.is_file() or DOC.read_text(encoding="utf-8") != text:
            print("docs/guideline.md is stale: run python -m service.knowledge.guideline_doc")
            return 1
        print("docs/guideline.md is up to date")
        return 0
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
