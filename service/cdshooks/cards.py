"""RequestGroup (from PlanDefinition $apply) → CDS Hooks cards and systemActions.

The mapping follows docs/content-conventions.md and the HL7 "CDS on FHIR" mapping:
- one top-level RequestGroup action = one card (summary = title, indicator from priority);
- its child actions = the card's suggestions, each with the resource proposed by $apply as a
  `create` action, or, for a child of action-type `remove`, one `delete` action per resource its
  sub-actions reference (`resourceId` = relative `Type/id`, no `resource`);
  `selectionBehavior` is validated to `at-most-one` | `any`;
- detail markdown: recommendation and reason (description), the patient's evidence
  (pertinent-evidence extensions), strength of recommendation and quality of evidence, citations;
- source from the first `documentation` RelatedArtifact; links for the guideline, citations and an
  optional SMART app; override reasons from the override-reason extensions;
- a top-level action marked with the `system-action` extension becomes systemActions instead.
Card and suggestion uuids are uuid5 of (service, action id[, suggestion id], patient): stable for
the same recommendation to the same patient, different across patients.
Optional fields are omitted, never null or empty.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass

from service import conventions
from service.apply.prepare import is_remove

#: A relative FHIR reference `Type/id` (CDS Hooks `delete` actions name the resource this way).
RELATIVE_REFERENCE = re.compile(r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")
UUID_NAMESPACE = uuid.UUID("6f1d7c3e-51a5-4c1b-9f0e-2a4f3d1c9b80")

SELECTION = {
    "at-most-one": "at-most-one",
    "exactly-one": "at-most-one",
    "any": "any",
    "all": "any",
    "all-or-none": "any",
    "one-or-more": "any",
}
STRENGTH_TEXT = {"strong": "Strong", "weak": "Conditional (weak)"}
SUMMARY_MAX = 139


@dataclass(frozen=True)
class CardContext:
    service_id: str
    patient_id: str
    plan_definition: dict
    smart_app_url: str | None = None


def stable_uuid(*parts: str) -> str:
    return str(uuid.uuid5(UUID_NAMESPACE, "|".join(parts)))


def _ext(element: dict, url: str) -> list[dict]:
    return [e for e in element.get("extension") or () if e.get("url") == url]


def _first_coding(cc: dict | None) -> dict | None:
    for c in (cc or {}).get("coding") or ():
        if c.get("system") and c.get("code"):
            return {k: c[k] for k in ("system", "code", "display") if c.get(k)}
    return None


def _text_of(cc: dict | None) -> str | None:
    if not cc:
        return None
    if cc.get("text"):
        return cc["text"]
    c = _first_coding(cc)
    return (c or {}).get("display") or (c or {}).get("code")


def _resource_index(resources: list[dict]) -> dict[str, dict]:
    idx: dict[str, dict] = {}
    for r in resources or ():
        rid = r.get("id")
        if not rid:
            continue
        idx[f"{r.get('resourceType')}/{rid}"] = r
        idx[f"#{rid}"] = r
        idx[rid] = r
        if str(rid).startswith("urn:"):
            idx[str(rid)] = r
    for r in resources or ():
        full = r.get("fullUrl")
        if full:
            idx[full] = r
    return idx


def _proposed(action: dict, index: dict[str, dict]) -> dict | None:
    ref = (action.get("resource") or {}).get("reference")
    if not ref:
        return None
    return index.get(ref) or index.get(ref.rsplit("/", 1)[-1])


def _clean_resource(resource: dict) -> dict:
    """The proposed resource as sent to the client (no nulls or empty values)."""
    return _prune(resource)


def _prune(value):
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            pv = _prune(v)
            if pv is None or pv == "" or pv == [] or pv == {}:
                continue
            out[k] = pv
        return out
    if isinstance(value, list):
        return [p for p in (_prune(v) for v in value) if p not in (None, "", [], {})]
    return value


def build_response(request_group: dict, resources: list[dict], ctx: CardContext) -> dict:
    index = _resource_index(resources)
    cards: list[dict] = []
    system_actions: list[dict] = []
    for action in request_group.get("action") or ():
        if any(e.get("valueBoolean") for e in _ext(action, conventions.SYSTEM_ACTION)):
            system_actions.extend(_system_actions(action, index))
            continue
        cards.append(build_card(action, index, ctx))
    out: dict = {"cards": cards}
    if system_actions:
        out["systemActions"] = system_actions
    return out


def _system_actions(action: dict, index: dict) -> list[dict]:
    out = []
    for a in [action, *(action.get("action") or ())]:
        res = _proposed(a, index)
        if res is not None:
            out.append(
                {
                    "type": "create",
                    "description": a.get("title") or a.get("description") or "Create resource",
                    "resource": _clean_resource(res),
                }
            )
    return out


def build_card(action: dict, index: dict, ctx: CardContext) -> dict:
    pd = ctx.plan_definition
    action_id = action.get("id") or action.get("title") or "action"
    card: dict = {
        "uuid": stable_uuid("card", ctx.service_id, action_id, ctx.patient_id),
        "summary": _summary(action, pd),
        "indicator": conventions.INDICATOR.get(action.get("priority") or "routine", "info"),
        "source": _source(action, pd),
    }
    detail = _detail(action, pd)
    if detail:
        card["detail"] = detail
    suggestions = _suggestions(action, index, ctx, action_id)
    if suggestions:
        behavior = SELECTION.get(action.get("selectionBehavior") or "", "at-most-one")
        if behavior == "at-most-one":
            _single_recommendation(suggestions)
        card["selectionBehavior"] = behavior
        card["suggestions"] = suggestions
    reasons = _override_reasons(action)
    if reasons:
        card["overrideReasons"] = reasons
    links = _links(action, pd, ctx, action_id)
    if links:
        card["links"] = links
    return card


def _summary(action: dict, pd: dict) -> str:
    text = " ".join((action.get("title") or pd.get("title") or "Recommendation").split())
    if len(text) > SUMMARY_MAX:
        text = text[: SUMMARY_MAX - 1].rstrip() + "…"
    return text


def _documentation(action: dict, pd: dict) -> list[dict]:
    return list(action.get("documentation") or ()) or list(pd.get("relatedArtifact") or ())


def _guideline(action: dict, pd: dict) -> dict | None:
    for ra in _documentation(action, pd):
        if ra.get("type") == "documentation":
            return ra
    return None


def _citations(action: dict, pd: dict) -> list[dict]:
    return [ra for ra in _documentation(action, pd) if ra.get("type") == "citation"]


def _source(action: dict, pd: dict) -> dict:
    g = _guideline(action, pd) or {}
    label = g.get("label") or g.get("display") or pd.get("publisher") or pd.get("title")
    src: dict = {"label": " ".join((label or pd.get("name") or "Guideline").split())}
    url = g.get("url") or (g.get("document") or {}).get("url")
    if url:
        src["url"] = url
    topic = None
    for cc in action.get("code") or ():
        topic = _first_coding(cc)
        if topic:
            break
    if topic is None:
        for cc in pd.get("topic") or ():
            topic = _first_coding(cc)
            if topic:
                break
    if topic:
        src["topic"] = topic
    return src


def _strength(action: dict, pd: dict) -> str | None:
    def value(url: str) -> dict | None:
        for holder in (action, pd):
            for e in _ext(holder, url):
                if e.get("valueCodeableConcept"):
                    return e["valueCodeableConcept"]
        return None

    strength, quality = value(conventions.CPG_STRENGTH), value(conventions.CPG_QUALITY)
    parts = []
    if strength:
        code = (_first_coding(strength) or {}).get("code")
        parts.append(STRENGTH_TEXT.get(code, _text_of(strength) or code))
    if quality:
        code = (_first_coding(quality) or {}).get("code")
        q = (_text_of(quality) or code or "").replace("-", " ")
        parts.append(f"quality of evidence: {q}")
    if not parts:
        return None
    return "**Strength of recommendation:** " + "; ".join(p for p in parts if p)


def _citation_text(ra: dict) -> str | None:
    text = ra.get("citation") or ra.get("display") or ra.get("label")
    url = ra.get("url") or (ra.get("document") or {}).get("url")
    if text and url:
        return f"{' '.join(text.split())} ({url})"
    return " ".join(text.split()) if text else url


def _detail(action: dict, pd: dict) -> str:
    blocks: list[str] = []
    description = (action.get("description") or "").strip()
    if description:
        blocks.append(description)
    evidence = [e.get("valueReference") or {} for e in _ext(action, conventions.PERTINENT_EVIDENCE)]
    lines = [
        f"- {' '.join((r.get('display') or r.get('reference') or '').split())}" for r in evidence
    ]
    lines = [line for line in lines if line != "- "]
    if lines:
        blocks.append("**Why this card, from this patient's record:**\n\n" + "\n".join(lines))
    strength = _strength(action, pd)
    if strength:
        blocks.append(strength)
    cites = [c for c in (_citation_text(ra) for ra in _citations(action, pd)) if c]
    if cites:
        blocks.append(
            "**References:**\n\n" + "\n".join(f"{i}. {c}" for i, c in enumerate(cites, 1))
        )
    return "\n\n".join(blocks)


def _suggestions(action: dict, index: dict, ctx: CardContext, action_id: str) -> list[dict]:
    children = list(action.get("action") or ())
    if not children and action.get("resource"):
        children = [action]
    out = []
    for child in children:
        res = _proposed(child, index)
        child_id = child.get("id") or child.get("title") or str(len(out))
        label = " ".join((child.get("title") or child.get("description") or "").split())
        if not label and res is not None:
            label = f"Create {res.get('resourceType')}"
        if not label:
            continue
        s: dict = {
            "label": label,
            "uuid": stable_uuid("suggestion", ctx.service_id, action_id, child_id, ctx.patient_id),
        }
        if any(e.get("valueBoolean") is True for e in _ext(child, conventions.IS_RECOMMENDED)):
            s["isRecommended"] = True
        description = " ".join((child.get("description") or child.get("title") or label).split())
        if is_remove(child):
            deletes = [
                {"type": "delete", "description": description, "resourceId": ref}
                for ref in _removal_targets(child)
            ]
            if not deletes:
                continue  # nothing to remove: no suggestion
            s["actions"] = deletes
        elif res is not None:
            s["actions"] = [
                {"type": "create", "description": description, "resource": _clean_resource(res)}
            ]
        out.append(s)
    return out


def _removal_targets(action: dict) -> list[str]:
    """The relative references (`Type/id`) a remove action's sub-actions (or itself) name,
    in order, once each; anything else (absolute, contained, malformed) is skipped."""
    refs: list[str] = []
    for a in [action, *(action.get("action") or ())]:
        ref = (a.get("resource") or {}).get("reference")
        if isinstance(ref, str) and RELATIVE_REFERENCE.match(ref) and ref not in refs:
            refs.append(ref)
    return refs


def _single_recommendation(suggestions: list[dict]) -> None:
    """Under at-most-one, at most one suggestion may be recommended: keep the first."""
    found = False
    for s in suggestions:
        if s.get("isRecommended"):
            if found:
                del s["isRecommended"]
            found = True


def _override_reasons(action: dict) -> list[dict]:
    out = []
    for e in _ext(action, conventions.OVERRIDE_REASON):
        c = e.get("valueCoding") or {}
        if c.get("system") and c.get("code") and c.get("display"):
            out.append({"system": c["system"], "code": c["code"], "display": c["display"]})
    return out


def _links(action: dict, pd: dict, ctx: CardContext, action_id: str) -> list[dict]:
    links = []
    seen = set()
    g = _guideline(action, pd)
    if g:
        url = g.get("url") or (g.get("document") or {}).get("url")
        if url:
            label = g.get("label") or g.get("display") or "Guideline"
            links.append({"label": " ".join(label.split()), "url": url, "type": "absolute"})
            seen.add(url)
    for i, ra in enumerate(_citations(action, pd), 1):
        url = ra.get("url") or (ra.get("document") or {}).get("url")
        if not url or url in seen:
            continue
        seen.add(url)
        label = ra.get("label") or ra.get("display") or ra.get("citation") or f"Reference {i}"
        label = " ".join(label.split())
        if len(label) > 120:
            label = label[:119].rstrip() + "…"
        links.append({"label": label, "url": url, "type": "absolute"})
    if ctx.smart_app_url:
        links.append(
            {
                "label": "Open the SMART app",
                "url": ctx.smart_app_url,
                "type": "smart",
                "appContext": json.dumps(
                    {"recommendation": action_id, "service": ctx.service_id},
                    separators=(",", ":"),
                ),
            }
        )
    return links
