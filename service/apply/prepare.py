"""Load-time preparation of PlanDefinitions and ActivityDefinitions for `$apply`.

Everything that does not depend on the patient is done here, once: expressions resolved to a
(library, definition) pair of the compiled ELM or to a compiled FHIRPath function, definition
canonicals resolved, the set of CQL definitions each plan needs per trigger computed (including the
`action.*` dynamicValues that compute an action's text), resource templates of ActivityDefinitions
built. A problem raises `KnowledgeError` at start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from service.apply.activity import SUPPORTED_KINDS
from service.knowledge import KnowledgeBase
from service.knowledge.expression_names import (
    EVIDENCE_URL,
    IDENTIFIER_LANGUAGE,
    INLINE_LANGUAGES,
    REGENERATE,
    TARGET_URL,
    action_text_element,
    expression_name,
    generated_library_name,
    library_name_from_canonical,
)
from service.knowledge.loader import KnowledgeError

FHIRPATH = "text/fhirpath"
APPLICABILITY_BEHAVIOR_URL = "http://hl7.org/fhir/StructureDefinition/cqf-applicabilityBehavior"
ACTION_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/action-type"

#: RequestGroup.action elements copied from PlanDefinition.action as they are.
COPIED_ELEMENTS = (
    "prefix", "title", "description", "textEquivalent", "priority", "code", "documentation",
    "relatedAction", "type", "groupingBehavior", "selectionBehavior", "requiredBehavior",
    "precheckBehavior", "cardinalityBehavior", "timingDateTime", "timingAge", "timingPeriod",
    "timingDuration", "timingRange", "timingTiming",
)  # fmt: skip
#: Extensions that instruct $apply and are replaced by their result in the RequestGroup.
CONSUMED_EXTENSIONS = (EVIDENCE_URL, TARGET_URL, APPLICABILITY_BEHAVIOR_URL)
#: RequestGroup.action elements a PlanDefinition action's `dynamicValue` may compute (path
#: `action.<element>` or `%action.<element>`, the cqf-ruler / CPG convention); string results.
ACTION_TEXT_ELEMENTS = ("title", "description", "textEquivalent")


@dataclass
class Expr:
    """A prepared expression: CQL (library + definition name) or compiled FHIRPath."""

    language: str
    text: str
    where: str
    library: str | None = None
    definition: str | None = None
    fhirpath: Callable[..., list] | None = None


@dataclass
class PreparedActivity:
    resource: dict
    canonical: str
    kind: str
    dynamic: list[tuple[str, Expr]]
    cql: dict[str, set[str]] = field(default_factory=dict)


@dataclass
class PreparedAction:
    action: dict
    path: str
    conditions: list[Expr]
    evidence: list[Expr]
    triggers: frozenset[str] | None
    definition: PreparedActivity | PreparedPlan | None
    children: list[PreparedAction]
    first_applicable_child_only: bool
    copied: dict
    #: `remove` actions: the expressions returning the existing resources to remove.
    targets: list[Expr] = field(default_factory=list)
    #: `action.*` dynamicValues: (RequestGroup.action element, expression computing its text).
    text: list[tuple[str, Expr]] = field(default_factory=list)


@dataclass
class PreparedPlan:
    resource: dict
    canonical: str
    actions: list[PreparedAction]
    first_applicable_only: bool
    _needs: dict[str | None, dict[str, tuple[str, ...]]] = field(default_factory=dict)

    def cql_needs(self, trigger: str | None) -> dict[str, tuple[str, ...]]:
        """Library → definitions to evaluate for a request (restricted to the trigger's actions)."""
        cached = self._needs.get(trigger)
        if cached is None:
            acc: dict[str, set[str]] = {}
            for action in self.actions:
                if trigger is None or (action.triggers and trigger in action.triggers):
                    _collect_needs(action, acc)
            cached = {lib: tuple(sorted(defs)) for lib, defs in sorted(acc.items())}
            self._needs[trigger] = cached
        return cached


def _add(acc: dict[str, set[str]], expr: Expr) -> None:
    if expr.library and expr.definition:
        acc.setdefault(expr.library, set()).add(expr.definition)


def _collect_needs(action: PreparedAction, acc: dict[str, set[str]]) -> None:
    for expr in (*action.conditions, *action.evidence, *action.targets):
        _add(acc, expr)
    for _, expr in action.text:
        _add(acc, expr)
    definition = action.definition
    if isinstance(definition, PreparedActivity):
        for lib, defs in definition.cql.items():
            acc.setdefault(lib, set()).update(defs)
    elif isinstance(definition, PreparedPlan):
        for lib, defs in definition.cql_needs(None).items():
            acc.setdefault(lib, set()).update(defs)
    for child in action.children:
        _collect_needs(child, acc)


def canonical_of(resource: dict) -> str:
    url = resource.get("url") or f"{resource.get('resourceType')}/{resource.get('id')}"
    return f"{url}|{resource['version']}" if resource.get("version") else url


class PreparedKnowledge(KnowledgeBase):
    """The knowledge base as `$apply` serves it: the loaded artifacts plus every PlanDefinition
    and ActivityDefinition prepared once (`plans`, by `Type/id`).

    The preparation belongs to this layer, so the knowledge layer neither holds nor knows the
    prepared form; `with_parameters` views share the plans (they depend on no parameter value).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.plans: dict[str, PreparedActivity | PreparedPlan] = {}


class _Preparer:
    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        #: Prepared definitions, by `Type/id`: the knowledge base's own when it keeps them, so
        #: a plan's ActivityDefinitions are prepared once.
        self.plans: dict[str, PreparedActivity | PreparedPlan] = (
            kb.plans if isinstance(kb, PreparedKnowledge) else {}
        )
        self._fhirpath_cache: dict[str, Callable[..., list]] = {}
        self._in_progress: set[str] = set()

    # -- expressions ------------------------------------------------------------------------
    def evaluation_library(self, artifact: dict, where: str) -> str | None:
        """The library CQL expressions of `artifact` are evaluated in: its (first) library, or
        the generated `<Lib>Expressions` library when that exists (it passes every identifier
        through, so a request needs one call)."""
        libs = [lib for lib in artifact.get("library") or [] if isinstance(lib, str)]
        if not libs:
            return None
        lib = self.kb.library_for(libs[0])
        if lib is None:
            raise KnowledgeError(f"{where}: library {libs[0]} is not loaded")
        generated = generated_library_name(lib.name)
        return generated if generated in self.kb.libraries else lib.name

    def expr(self, expression: dict, artifact: dict, where: str) -> Expr:
        language, text = expression.get("language"), expression.get("expression")
        if not isinstance(text, str) or not text.strip():
            if expression.get("reference"):
                raise KnowledgeError(f"{where}: Expression.reference is not supported")
            raise KnowledgeError(f"{where}: expression has no text")
        if language == FHIRPATH:
            return Expr(language, text, where, fhirpath=self.fhirpath(text, where))
        if language not in (IDENTIFIER_LANGUAGE, *INLINE_LANGUAGES):
            raise KnowledgeError(f"{where}: expression language {language!r} is not supported")
        library = self.evaluation_library(artifact, where)
        if library is None:
            raise KnowledgeError(f"{where}: a CQL expression needs the artifact's `library`")
        definition = text if language == IDENTIFIER_LANGUAGE else expression_name(text)
        if definition not in self.kb.libraries[library].definitions:
            if library.endswith("Expressions") or language != IDENTIFIER_LANGUAGE:
                raise KnowledgeError(
                    f"{where}: {definition!r} is not in library {library}; the generated "
                    f"expressions library is stale: run `{REGENERATE}`"
                )
            raise KnowledgeError(f"{where}: library {library} has no definition {text!r}")
        return Expr(language, text, where, library=library, definition=definition)

    def fhirpath(self, text: str, where: str) -> Callable[..., list]:
        fn = self._fhirpath_cache.get(text)
        if fn is None:
            import fhirpathpy
            from fhirpathpy.models import models

            try:
                fn = fhirpathpy.compile(text, models["r4"])
            except Exception as exc:  # fhirpathpy raises plain Exceptions on syntax errors
                raise KnowledgeError(
                    f"{where}: FHIRPath {text!r} does not compile: {exc}"
                ) from None
            self._fhirpath_cache[text] = fn
        return fn

    # -- artifacts --------------------------------------------------------------------------
    def activity(self, ad: dict) -> PreparedActivity:
        canonical = canonical_of(ad)
        where = f"ActivityDefinition/{ad.get('id')}"
        kind = ad.get("kind")
        if kind not in SUPPORTED_KINDS:
            raise KnowledgeError(f"{where}: kind {kind!r} is not supported by $apply")
        dynamic = []
        cql: dict[str, set[str]] = {}
        for i, dv in enumerate(ad.get("dynamicValue") or []):
            path = dv.get("path")
            if not isinstance(path, str) or not path:
                raise KnowledgeError(f"{where}: dynamicValue[{i}] has no path")
            _check_path(kind, path, f"{where} dynamicValue {path}")
            e = self.expr(dv.get("expression") or {}, ad, f"{where} dynamicValue {path}")
            _add(cql, e)
            dynamic.append((path, e))
        return PreparedActivity(ad, canonical, kind, dynamic, cql)

    def plan(self, pd: dict) -> PreparedPlan:
        canonical = canonical_of(pd)
        if canonical in self._in_progress:
            raise KnowledgeError(f"PlanDefinition {canonical} includes itself")
        self._in_progress.add(canonical)
        try:
            actions = [self.action(a, pd, str(i)) for i, a in enumerate(pd.get("action") or [])]
        finally:
            self._in_progress.discard(canonical)
        return PreparedPlan(
            pd, canonical, actions, _first_only(pd, f"PlanDefinition/{pd.get('id')}")
        )

    def action(self, action: dict, pd: dict, position: str) -> PreparedAction:
        # Seeds the ids of proposed resources: the action id keeps them stable when actions are
        # added or reordered; the position is the fallback for actions without an id.
        path = f"id:{action['id']}" if action.get("id") else f"position:{position}"
        where = f"PlanDefinition/{pd.get('id')} action {action.get('id') or position}"
        conditions = []
        for cond in action.get("condition") or []:
            if cond.get("kind") != "applicability":
                continue  # start/stop conditions do not decide applicability
            conditions.append(self.expr(cond.get("expression") or {}, pd, f"{where} condition"))
        evidence = [
            self.expr(ext.get("valueExpression") or {}, pd, f"{where} evidence")
            for ext in action.get("extension") or []
            if ext.get("url") == EVIDENCE_URL
        ]
        targets = [
            self.expr(ext.get("valueExpression") or {}, pd, f"{where} target")
            for ext in action.get("extension") or []
            if ext.get("url") == TARGET_URL
        ]
        if is_remove(action) != bool(targets):
            raise KnowledgeError(
                f"{where}: an action of type remove needs a target-expression extension, "
                "and a target-expression needs type remove"
            )
        if targets and (action.get("definitionCanonical") or action.get("action")):
            raise KnowledgeError(
                f"{where}: a remove action has no definitionCanonical and no child actions"
            )
        triggers = None
        if action.get("trigger"):
            triggers = frozenset(
                t["name"]
                for t in action["trigger"]
                if t.get("type") == "named-event" and t.get("name")
            )
        definition: PreparedActivity | PreparedPlan | None = None
        ref = action.get("definitionCanonical")
        if ref:
            target = self.kb.resolve(ref)
            if target is None:
                raise KnowledgeError(f"{where}: definitionCanonical {ref} does not resolve")
            definition = self.prepared_for(target, where)
        elif action.get("definitionUri"):
            raise KnowledgeError(
                f"{where}: definitionUri is not supported; use definitionCanonical"
            )
        children = [
            self.action(child, pd, f"{position}.{i}")
            for i, child in enumerate(action.get("action") or [])
        ]
        text = self.action_text(action, pd, where)
        copied = {k: action[k] for k in COPIED_ELEMENTS if k in action}
        extensions = [
            e for e in action.get("extension") or [] if e.get("url") not in CONSUMED_EXTENSIONS
        ]
        if extensions:
            copied["extension"] = extensions
        return PreparedAction(
            action, path, conditions, evidence, triggers, definition, children,
            _first_only(action, where), copied, targets, text,
        )  # fmt: skip

    def action_text(self, action: dict, pd: dict, where: str) -> list[tuple[str, Expr]]:
        """The action's `action.*` dynamicValues, which compute the RequestGroup action's text.

        Other dynamicValue paths on a PlanDefinition action (overrides of the definition's
        resource) are not supported and are left alone, as before."""
        out: list[tuple[str, Expr]] = []
        for i, dv in enumerate(action.get("dynamicValue") or []):
            element = action_text_element(dv.get("path"))
            if element is None:
                continue
            label = f"{where} dynamicValue {dv['path']}"
            if element not in ACTION_TEXT_ELEMENTS:
                allowed = ", ".join(f"action.{e}" for e in ACTION_TEXT_ELEMENTS)
                raise KnowledgeError(
                    f"{where}: dynamicValue[{i}] path {dv['path']!r} is not supported "
                    f"(an action dynamicValue computes one of {allowed})"
                )
            if not isinstance(dv.get("expression"), dict):
                raise KnowledgeError(f"{where}: dynamicValue[{i}] ({dv['path']}) has no expression")
            static = action.get(element)
            if not isinstance(static, str) or not static.strip():
                raise KnowledgeError(
                    f"{where}: dynamicValue {dv['path']} needs a static `{element}` on the "
                    "action (shown when the computed text is empty or fails)"
                )
            if any(e == element for e, _ in out):
                raise KnowledgeError(f"{where}: more than one dynamicValue computes {element}")
            out.append((element, self.expr(dv["expression"], pd, label)))
        return out

    def prepared_for(self, target: dict, where: str) -> PreparedActivity | PreparedPlan:
        rtype = target.get("resourceType")
        key = f"{rtype}/{target.get('id')}"
        found = self.plans.get(key)
        if found is None:
            if rtype == "ActivityDefinition":
                found = self.activity(target)
            elif rtype == "PlanDefinition":
                found = self.plan(target)
            else:
                raise KnowledgeError(f"{where}: definitionCanonical points to a {rtype}")
            self.plans[key] = found
        return found


def is_remove(action: dict) -> bool:
    """Whether the action's `type` is the FHIR action-type `remove`."""
    return any(
        c.get("system") == ACTION_TYPE_SYSTEM and c.get("code") == "remove"
        for c in (action.get("type") or {}).get("coding") or ()
    )


def _check_path(kind: str, path: str, where: str) -> None:
    """The first element of a dynamicValue path must exist on the proposed resource type."""
    from fhir.resources.R4B import get_fhir_model_class

    fields = get_fhir_model_class(kind).model_fields
    names = set(fields) | {f.alias for f in fields.values() if f.alias}
    head = path.split(".")
    first = head[1] if head[0] == kind and len(head) > 1 else head[0]
    first = first.split("[", 1)[0]
    if first not in names:
        raise KnowledgeError(f"{where}: {kind} has no element {first!r}")


def _first_only(element: dict, where: str) -> bool:
    for ext in element.get("extension") or []:
        if ext.get("url") == APPLICABILITY_BEHAVIOR_URL:
            code = ext.get("valueCode")
            if code not in ("all", "any"):
                raise KnowledgeError(f"{where}: applicabilityBehavior must be all or any")
            return code == "any"
    return False


def prepare_all(kb: PreparedKnowledge) -> None:
    """Prepare every ActivityDefinition and PlanDefinition of the knowledge base."""
    p = _Preparer(kb)
    for ad in kb.activity_definitions:
        p.prepared_for(ad, f"ActivityDefinition/{ad.get('id')}")
    for pd in kb.plan_definitions:
        plan = p.prepared_for(pd, f"PlanDefinition/{pd.get('id')}")
        assert isinstance(plan, PreparedPlan)
        for trigger in {None, *(t for a in plan.actions for t in a.triggers or ())}:
            plan.cql_needs(trigger)  # computed now, so a request only looks it up


def load_knowledge(
    content_dir: Path, cql_dir: Path, *, elm_dir: Path | None = None
) -> PreparedKnowledge:
    """The knowledge base as the service loads it: `KnowledgeBase.load`, then every
    PlanDefinition and ActivityDefinition prepared for `$apply` (`prepare_all`), so a broken
    artifact raises `KnowledgeError` here, at start-up, and never on a request."""
    kb = PreparedKnowledge.load(content_dir, cql_dir, elm_dir=elm_dir)
    assert isinstance(kb, PreparedKnowledge)
    prepare_all(kb)
    return kb


def prepared_plan(kb: KnowledgeBase, pd: dict) -> PreparedPlan:
    """The prepared form of a PlanDefinition (prepared now if it is not from the KB)."""
    found = _Preparer(kb).plans.get(f"PlanDefinition/{pd.get('id')}")
    if isinstance(found, PreparedPlan) and found.resource is pd:
        return found
    return _Preparer(kb).plan(pd)


def prepared_activity(kb: KnowledgeBase, ad: dict) -> PreparedActivity:
    found = _Preparer(kb).plans.get(f"ActivityDefinition/{ad.get('id')}")
    if isinstance(found, PreparedActivity) and found.resource is ad:
        return found
    return _Preparer(kb).activity(ad)


__all__ = [
    "ACTION_TEXT_ELEMENTS",
    "COPIED_ELEMENTS",
    "Expr",
    "PreparedAction",
    "PreparedActivity",
    "PreparedKnowledge",
    "PreparedPlan",
    "action_text_element",
    "is_remove",
    "library_name_from_canonical",
    "load_knowledge",
    "prepare_all",
    "prepared_activity",
    "prepared_plan",
]
