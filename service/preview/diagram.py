"""A PlanDefinition as a decision diagram model: condition → card (priority, indicator) → choices.

Everything is read from the loaded content (the KnowledgeBase): action conditions and the CQL text
of the definitions they name, triggers, priorities, documentation, the child actions and the
ActivityDefinitions their `definitionCanonical` points to. The template draws the model as boxes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from service import conventions

PRIORITY_ORDER = {"stat": 0, "asap": 1, "urgent": 2, "routine": 3}
DEFINE = re.compile(
    r'^define\s+(?:(?:public|private)\s+)?(?:fluent\s+)?(?:function\s+)?(?:"([^"]+)"|(\w+))',
    re.MULTILINE,
)


@dataclass
class Choice:
    title: str
    recommended: bool
    proposes: str  # "ActivityDefinition title (kind)" or the canonical when it does not resolve
    condition: str | None = None


@dataclass
class Outcome:
    id: str
    prefix: str | None
    title: str
    priority: str
    indicator: str
    triggers: list[str]
    conditions: list[dict]  # {"expression", "language", "cql"}
    evidence: str | None
    strength: str | None
    quality: str | None
    source: str | None
    selection: str | None
    choices: list[Choice] = field(default_factory=list)
    system_action: bool = False  # applied by the EHR without a card (CDS Hooks systemActions)


@dataclass
class Diagram:
    id: str
    title: str
    description: str
    library: str | None
    outcomes: list[Outcome]


def _ext(element: dict, url: str) -> list[dict]:
    return [e for e in element.get("extension") or () if e.get("url") == url]


def _code(element: dict, url: str) -> str | None:
    for e in _ext(element, url):
        for c in (e.get("valueCodeableConcept") or {}).get("coding") or ():
            if c.get("code"):
                return c["code"]
    return None


def cql_definitions(cql: str) -> dict[str, str]:
    """`define "Name": ...` blocks of a CQL source, by name (text up to the next definition)."""
    out: dict[str, str] = {}
    matches = list(DEFINE.finditer(cql))
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(cql)
        block = cql[m.start() : end].rstrip()
        # drop trailing comment lines that belong to the next definition
        lines = block.splitlines()
        while lines and (not lines[-1].strip() or lines[-1].lstrip().startswith("//")):
            lines.pop()
        out.setdefault((m.group(1) or m.group(2)).strip(), "\n".join(lines))
    return out


def _library_text(kb, plan: dict) -> tuple[str | None, dict[str, str]]:
    for canonical in plan.get("library") or ():
        lib = kb.library_for(canonical) if hasattr(kb, "library_for") else None
        if lib is not None and getattr(lib, "cql", None):
            return lib.name, cql_definitions(lib.cql)
    return None, {}


def _condition(cond: dict, definitions: dict[str, str]) -> dict:
    expr = cond.get("expression") or {}
    text = expr.get("expression") or ""
    language = expr.get("language") or ""
    cql = definitions.get(text) if language == "text/cql-identifier" else None
    return {"expression": text, "language": language, "cql": cql}


def _proposes(kb, canonical: str | None) -> str:
    if not canonical:
        return "no proposed resource"
    target = kb.resolve(canonical)
    if not target:
        return canonical
    kind = target.get("kind") or target.get("resourceType")
    return f"{target.get('title') or target.get('name') or target.get('id')} ({kind})"


def build_diagram(kb, plan: dict) -> Diagram:
    library, definitions = _library_text(kb, plan)
    outcomes = []
    for action in plan.get("action") or ():
        priority = action.get("priority") or "routine"
        docs = [d for d in action.get("documentation") or () if d.get("type") == "documentation"]
        evidence = _ext(action, conventions.EVIDENCE_EXPRESSION)
        choices = [
            Choice(
                title=child.get("title") or child.get("id") or "(untitled)",
                recommended=any(
                    e.get("valueBoolean") for e in _ext(child, conventions.IS_RECOMMENDED)
                ),
                proposes=_proposes(kb, child.get("definitionCanonical")),
                condition="; ".join(
                    _condition(c, definitions)["expression"] for c in child.get("condition") or ()
                )
                or None,
            )
            for child in action.get("action") or ()
        ]
        outcomes.append(
            Outcome(
                id=action.get("id") or "",
                prefix=action.get("prefix"),
                title=action.get("title") or action.get("id") or "(untitled)",
                priority=priority,
                indicator=conventions.INDICATOR.get(priority, "info"),
                triggers=[t.get("name") for t in action.get("trigger") or () if t.get("name")],
                conditions=[_condition(c, definitions) for c in action.get("condition") or ()],
                evidence=(evidence[0].get("valueExpression") or {}).get("expression")
                if evidence
                else None,
                strength=_code(action, conventions.CPG_STRENGTH),
                quality=_code(action, conventions.CPG_QUALITY),
                source=(docs[0].get("display") or docs[0].get("url")) if docs else None,
                selection=action.get("selectionBehavior"),
                choices=choices,
                system_action=any(
                    e.get("valueBoolean") for e in _ext(action, conventions.SYSTEM_ACTION)
                ),
            )
        )
    outcomes.sort(key=lambda o: PRIORITY_ORDER.get(o.priority, 9))
    return Diagram(
        id=plan.get("id") or "",
        title=plan.get("title") or plan.get("name") or plan.get("id") or "",
        description=plan.get("description") or "",
        library=library,
        outcomes=outcomes,
    )
