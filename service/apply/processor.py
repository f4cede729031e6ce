"""PlanDefinition / ActivityDefinition `$apply` for one subject (see docs/apply.md).

A request: index the patient's data once, evaluate every CQL definition the plan needs in one
`engine.evaluate` call per library (per trigger), then walk the prepared actions: applicability
(CQL results or compiled FHIRPath), evidence, proposed resources from definitionCanonical,
copied elements, and text computed by `action.*` dynamicValues (title, description,
textEquivalent). Failures become OperationOutcome issues, never exceptions.
"""

from __future__ import annotations

import copy
import datetime as _dt
import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from service import conventions
from service.apply.activity import PathError, base_resource, set_path
from service.apply.evidence import evidence_extension
from service.apply.prepare import (
    FHIRPATH,
    Expr,
    PreparedAction,
    PreparedActivity,
    PreparedPlan,
    prepared_activity,
    prepared_plan,
)
from service.apply.values import ConversionError, to_fhir
from service.elm import ElmError
from service.knowledge.expression_names import SUFFIX
from service.knowledge.parameters import merge_parameters

if TYPE_CHECKING:
    from service.knowledge import KnowledgeBase

ISSUES_EXTENSION = conventions.APPLY_ISSUES
#: A computed title becomes the card summary, which CDS Hooks limits to < 140 characters.
TITLE_MAX = 139
_ID_CHARS = re.compile(r"[^A-Za-z0-9\-.]")


@dataclass
class ApplyResult:
    """The outcome of `$apply`: a RequestGroup (None for ActivityDefinition/$apply), the proposed
    resources it references by `Type/id`, OperationOutcome issues and the CQL results used."""

    request_group: dict | None
    resources: list[dict] = field(default_factory=list)
    issues: list[dict] = field(default_factory=list)
    evaluated: dict[str, Any] = field(default_factory=dict)

    @property
    def resource(self) -> dict | None:
        """ActivityDefinition/$apply: the single proposed resource."""
        return self.resources[0] if self.resources else None

    def operation_outcome(self) -> dict | None:
        if not self.issues:
            return None
        return {"resourceType": "OperationOutcome", "id": "apply-issues", "issue": self.issues}

    def to_care_plan(self) -> dict:
        """An R4 CarePlan containing the RequestGroup and the proposed resources (references
        rewritten to `#id`), with `activity.reference` → the RequestGroup; issues, if any, as a
        contained OperationOutcome referenced by the `apply-issues` extension."""
        rg = self.request_group
        if rg is None:
            raise ValueError("ActivityDefinition/$apply has no CarePlan; use .resource")
        local = {f"{r['resourceType']}/{r['id']}" for r in self.resources}
        contained = [_localise(rg, local)] + [_localise(r, local) for r in self.resources]
        plan: dict[str, Any] = {"resourceType": "CarePlan", "id": rg["id"]}
        outcome = self.operation_outcome()
        if outcome:
            contained.append(outcome)
            plan["extension"] = [
                {"url": ISSUES_EXTENSION, "valueReference": {"reference": "#apply-issues"}}
            ]
        plan["contained"] = contained
        plan["instantiatesCanonical"] = list(rg.get("instantiatesCanonical") or [])
        plan["status"] = "draft"
        plan["intent"] = "proposal"
        plan["subject"] = rg["subject"]
        if rg.get("encounter"):
            plan["encounter"] = rg["encounter"]
        plan["created"] = rg["authoredOn"]
        if rg.get("author"):
            plan["author"] = rg["author"]
        plan["activity"] = [{"reference": {"reference": f"#{rg['id']}"}}]
        return plan


def _localise(resource: dict, local: set[str]) -> dict:
    out = copy.deepcopy(resource)
    stack: list[Any] = [out]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("reference")
            if isinstance(ref, str) and ref in local:
                node["reference"] = "#" + ref.split("/", 1)[1]
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return out


def _type_name(value: Any) -> str:
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict) and value.get("resourceType"):
        return f"a {value['resourceType']}"
    names = {bool: "a Boolean", int: "an Integer", float: "a Decimal"}
    return names.get(type(value), f"a {type(value).__name__}")


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


def _is_valid(resource: dict) -> bool:
    from fhir.resources.R4B import get_fhir_model_class

    try:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    except (ValidationError, KeyError, ValueError, TypeError):
        return False
    return True


def issue(severity: str, code: str, text: str, where: str | None = None) -> dict:
    out: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": text}
    if where:
        out["location"] = [where]
    return out


def _stable_id(prefix: str, *parts: str) -> str:
    digest = hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest()[:16]
    head = _ID_CHARS.sub("-", prefix)[: 64 - 17].strip("-.") or "r"
    return f"{head}-{digest}"


def _now(now: Any) -> _dt.datetime:
    if now is None:
        return _dt.datetime.now(_dt.UTC)
    if isinstance(now, _dt.datetime):
        return now if now.tzinfo else now.replace(tzinfo=_dt.UTC)
    to_python = getattr(now, "to_python", None)
    if to_python is not None:
        return to_python()
    raise TypeError(f"unsupported evaluation time {now!r}")


def _reference(value: str | None, default_type: str) -> str | None:
    if not value:
        return None
    return value if "/" in value else f"{default_type}/{value}"


class _Request:
    """State of one $apply call."""

    def __init__(
        self,
        kb: KnowledgeBase,
        subject: str,
        data: Any,
        *,
        encounter: str | None = None,
        practitioner: str | None = None,
        organization: str | None = None,
        user_type: str | None = None,
        setting: str | None = None,
        parameters: dict | None = None,
        now: Any = None,
    ) -> None:
        if not subject:
            raise ValueError("$apply needs a subject (e.g. 'Patient/123')")
        self.kb = kb
        self.subject = _reference(subject, "Patient") or ""
        self.encounter = _reference(encounter, "Encounter")
        self.practitioner = _reference(practitioner, "Practitioner")
        self.organization = _reference(organization, "Organization")
        self.user_type = user_type
        self.setting = setting
        #: The request's own CQL parameters (checked for typos), and what the logic runs with:
        #: those over the deployment's values (`kb.parameters`), over the content's defaults.
        self.request_parameters = dict(parameters or {})
        self.parameters = merge_parameters(kb.parameters, self.request_parameters)
        self.now = _now(now)
        self.authored_on = self.now.isoformat().replace("+00:00", "Z")
        self.data = kb.engine.prepare_data(data)
        self.issues: list[dict] = []
        self.resources: list[dict] = []
        self.results: dict[str, dict[str, Any]] = {}
        self.errors: dict[tuple[str, str], str] = {}
        self.reported: set[tuple[str, str]] = set()
        self._fhirpath_env: dict | None = None
        patient = self.data.patient
        if patient is None:
            self.issues.append(issue("warning", "not-found", "the data holds no Patient resource"))
        elif self.subject != f"Patient/{patient.get('id')}":
            self.issues.append(
                issue("warning", "business-rule", "the data's Patient is not the subject")
            )

    # -- CQL -------------------------------------------------------------------------------
    def _parameters_for(self, library: str) -> dict[str, Any]:
        base = library.removesuffix(SUFFIX)
        if library != base and base in self.kb.libraries:
            return {f"{base}.{k}" if "." not in k else k: v for k, v in self.parameters.items()}
        return self.parameters

    def check_parameters(self, libraries: list[str]) -> None:
        """Warn about CQL parameters that no library of the request declares (a typo would
        otherwise be silently ignored)."""
        if not self.request_parameters:
            return
        declared: set[str] = set()
        for name in libraries:
            base = (
                name.removesuffix(SUFFIX)
                if name.removesuffix(SUFFIX) in self.kb.libraries
                else name
            )
            for lib in (name, base):
                try:
                    declared.update(self.kb.engine.library(lib).parameters)
                except Exception:
                    continue
        for key in self.request_parameters:
            if "." not in key and key not in declared:
                self.issues.append(
                    issue("warning", "not-found", f"CQL parameter {key!r} is not declared; ignored")
                )

    def evaluate(self, needs: dict[str, tuple[str, ...]]) -> None:
        """One engine call per library; on failure, isolate the failing definitions."""
        engine = self.kb.engine
        for library, definitions in needs.items():
            pending = [d for d in definitions if d not in self.results.get(library, {})]
            if not pending:
                continue
            params = self._parameters_for(library)
            got = self.results.setdefault(library, {})
            try:
                got.update(
                    engine.evaluate(
                        library,
                        expressions=pending,
                        data=self.data,
                        parameters=params,
                        now=self.now,
                    )
                )
            except ElmError:
                for definition in pending:
                    try:
                        got.update(
                            engine.evaluate(
                                library,
                                expressions=[definition],
                                data=self.data,
                                parameters=params,
                                now=self.now,
                            )
                        )
                    except ElmError as exc:
                        self.errors[(library, definition)] = str(exc)
                    except Exception as exc:  # an engine bug must not crash the request
                        self.errors[(library, definition)] = _describe(exc)
            except Exception as exc:  # an engine bug must not crash the request
                for definition in pending:
                    self.errors[(library, definition)] = _describe(exc)
            for definition in pending:
                if definition not in got and (library, definition) not in self.errors:
                    self.errors[(library, definition)] = "the engine returned no value"

    def value(self, expr: Expr) -> tuple[bool, Any]:
        """(ok, value) of a prepared expression; a failure is reported once as an issue."""
        if expr.language == FHIRPATH:
            try:
                return True, expr.fhirpath(self.data.patient or {}, self.fhirpath_env())
            except Exception as exc:  # fhirpathpy raises plain exceptions
                self.issues.append(
                    issue("error", "exception", f"FHIRPath {expr.text!r} failed: {exc}", expr.where)
                )
                return False, None
        key = (expr.library or "", expr.definition or "")
        if key in self.errors:
            if key not in self.reported:
                self.reported.add(key)
                self.issues.append(
                    issue(
                        "error",
                        "exception",
                        f"CQL evaluation failed: {self.errors[key]}",
                        expr.where,
                    )
                )
            else:
                self.issues.append(issue("error", "exception", "CQL evaluation failed", expr.where))
            return False, None
        lib = self.results.get(key[0], {})
        if key[1] not in lib:  # not requested for this trigger: evaluate now (rare)
            self.evaluate({key[0]: (key[1],)})
            return self.value(expr)
        return True, lib[key[1]]

    def fhirpath_env(self) -> dict:
        if self._fhirpath_env is None:
            patient = self.data.patient or {}
            env: dict[str, Any] = {"subject": patient, "patient": patient}
            for name, ref in (
                ("encounter", self.encounter),
                ("practitioner", self.practitioner),
                ("organization", self.organization),
            ):
                env[name] = self._find(ref) if ref else None
            env["userType"] = self.user_type
            env["setting"] = self.setting
            self._fhirpath_env = env
        return self._fhirpath_env

    def _find(self, reference: str) -> dict | str:
        rtype, _, rid = reference.partition("/")
        for r in self.data.resources(rtype):
            if r.get("id") == rid:
                return r
        return reference

    def applicable(self, action: PreparedAction) -> bool:
        for cond in action.conditions:
            ok, value = self.value(cond)
            if not ok:
                return False
            if cond.language == FHIRPATH:
                if value != [True]:
                    return False
            elif value is not True:
                return False
        return True

    # -- building ----------------------------------------------------------------------------
    def activity_resource(self, prep: PreparedActivity, seed: str, name: str) -> dict:
        resource = base_resource(
            prep.resource,
            prep.canonical,
            resource_id=_stable_id(name, prep.canonical, seed, self.subject),
            subject=self.subject,
            encounter=self.encounter,
            practitioner=self.practitioner,
            authored_on=self.authored_on,
        )
        applied = []
        for path, expr in prep.dynamic:
            ok, value = self.value(expr)
            if not ok:
                continue
            try:
                if expr.language == FHIRPATH:
                    value = value[0] if len(value) == 1 else (value or None)
                converted = to_fhir(value)
                if converted is not None and converted != []:
                    applied.append((path, expr, converted))
            except ConversionError as exc:
                self.issues.append(issue("error", "processing", str(exc), expr.where))
        if applied:
            resource = self._with_dynamic_values(resource, applied)
        return resource

    def _with_dynamic_values(self, base: dict, applied: list[tuple[str, Expr, Any]]) -> dict:
        """Set the values; if the result is not valid FHIR, keep only the values that are (the
        check runs only for resources with dynamic values: a few per request)."""
        resource = copy.deepcopy(base)
        try:
            for path, _, value in applied:
                set_path(resource, path, value)
            if _is_valid(resource):
                return resource
        except PathError:
            pass
        resource = base
        for path, expr, value in applied:
            candidate = copy.deepcopy(resource)
            try:
                set_path(candidate, path, value)
            except PathError as exc:
                self.issues.append(issue("error", "processing", str(exc), expr.where))
                continue
            if _is_valid(candidate):
                resource = candidate
            else:
                self.issues.append(
                    issue("error", "processing", f"value does not fit {path}", expr.where)
                )
        return resource

    def plan(self, prep: PreparedPlan, trigger: str | None, seed: str) -> dict:
        self.evaluate(prep.cql_needs(trigger))
        rg: dict[str, Any] = {
            "resourceType": "RequestGroup",
            "id": _stable_id(prep.resource.get("id") or "plan", prep.canonical, seed, self.subject),
            "instantiatesCanonical": [prep.canonical],
            "status": "draft",
            "intent": "proposal",
            "subject": {"reference": self.subject},
        }
        if self.encounter:
            rg["encounter"] = {"reference": self.encounter}
        rg["authoredOn"] = self.authored_on
        if self.practitioner:
            rg["author"] = {"reference": self.practitioner}
        top = [
            a
            for a in prep.actions
            if trigger is None or (a.triggers is not None and trigger in a.triggers)
        ]
        actions = self.actions(top, prep, prep.first_applicable_only, seed)
        if actions:
            rg["action"] = actions
        return rg

    def actions(
        self, actions: list[PreparedAction], plan: PreparedPlan, first_only: bool, seed: str
    ) -> list[dict]:
        out = []
        for action in actions:
            if not self.applicable(action):
                continue
            built = self.action(action, plan, seed)
            if built is None:
                continue
            out.append(built)
            if first_only:
                break
        return out

    def action_text(self, element: str, expr: Expr) -> str | None:
        """The text an `action.<element>` dynamicValue computes; None keeps the static text
        (null/empty result, or a failure, which is reported as an issue)."""
        ok, value = self.value(expr)
        if not ok:
            return None
        if expr.language == FHIRPATH:
            value = value[0] if len(value) == 1 else (value or None)
        if value is None or value == []:
            return None
        if not isinstance(value, str):
            self.issues.append(
                issue(
                    "error",
                    "processing",
                    f"action.{element} needs a string, the expression returned "
                    f"{_type_name(value)}; the static {element} is kept",
                    expr.where,
                )
            )
            return None
        if element == "title":
            value = " ".join(value.split())
            if len(value) > TITLE_MAX:
                self.issues.append(
                    issue(
                        "warning",
                        "too-long",
                        f"the computed title has {len(value)} characters (at most {TITLE_MAX}"
                        " for a card summary); the static title is kept",
                        expr.where,
                    )
                )
                return None
        return value if value.strip() else None

    def removals(self, action: PreparedAction) -> list[dict]:
        """A `remove` action's sub-actions: one per existing resource its target expressions
        return (same `type`, `resource` → `Type/id`); resources without an id are skipped."""
        refs: list[str] = []
        for expr in action.targets:
            ok, value = self.value(expr)
            if not ok:
                continue
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict) and item.get("resourceType") and item.get("id"):
                    ref = f"{item['resourceType']}/{item['id']}"
                    if ref not in refs:
                        refs.append(ref)
        base = action.action.get("id") or "remove"
        return [
            {"id": f"{base}-{n}", "type": action.action["type"], "resource": {"reference": ref}}
            for n, ref in enumerate(refs, 1)
        ]

    def action(self, action: PreparedAction, plan: PreparedPlan, seed: str) -> dict | None:
        """The RequestGroup action; None for a `remove` action with nothing to remove."""
        removals = self.removals(action) if action.targets else []
        if action.targets and not removals:
            return None
        out: dict[str, Any] = {}
        if action.action.get("id"):
            out["id"] = action.action["id"]
        extensions = list(action.copied.get("extension") or [])
        for expr in action.evidence:
            ok, value = self.value(expr)
            if ok:
                extensions.extend(evidence_extension(value, self.kb.display_of))
        if extensions:
            out["extension"] = extensions
        out.update({k: v for k, v in action.copied.items() if k != "extension"})
        for element, expr in action.text:
            computed = self.action_text(element, expr)
            if computed is not None:
                out[element] = computed
        definition = action.definition
        name = action.action.get("id") or plan.resource.get("id") or "action"
        action_seed = f"{seed}/{plan.canonical}/{action.path}"
        if isinstance(definition, PreparedActivity):
            resource = self.activity_resource(definition, action_seed, name)
            self.resources.append(resource)
            out["resource"] = {"reference": f"{resource['resourceType']}/{resource['id']}"}
        elif isinstance(definition, PreparedPlan):
            nested = self.plan(definition, None, action_seed)
            self.resources.append(nested)
            out["resource"] = {"reference": f"RequestGroup/{nested['id']}"}
        children = removals or self.actions(
            action.children, plan, action.first_applicable_child_only, seed
        )
        if children:
            out["action"] = children
        return out

    def evaluated(self) -> dict[str, Any]:
        return {lib: dict(values) for lib, values in self.results.items()}


def apply_plan_definition(
    kb: KnowledgeBase,
    plan_definition: dict,
    subject: str,
    data: Any = None,
    encounter: str | None = None,
    practitioner: str | None = None,
    organization: str | None = None,
    user_type: str | None = None,
    setting: str | None = None,
    parameters: dict | None = None,
    now: Any = None,
    trigger: str | None = None,
) -> ApplyResult:
    """PlanDefinition/$apply → RequestGroup + proposed resources (see docs/apply.md).

    `trigger` (e.g. "patient-view") restricts the top-level actions to those whose named-event
    trigger names it. `parameters` are CQL parameter values ({name: CQL value})."""
    req = _Request(
        kb, subject, data, encounter=encounter, practitioner=practitioner,
        organization=organization, user_type=user_type, setting=setting,
        parameters=parameters, now=now,
    )  # fmt: skip
    prep = prepared_plan(kb, plan_definition)
    req.check_parameters(list(prep.cql_needs(trigger)) or list(prep.cql_needs(None)))
    rg = req.plan(prep, trigger, trigger or "")
    return ApplyResult(rg, req.resources, req.issues, req.evaluated())


def apply_activity_definition(
    kb: KnowledgeBase, activity_definition: dict, subject: str, data: Any = None, **context: Any
) -> ApplyResult:
    """ActivityDefinition/$apply → one proposed resource (`result.resource`). `context` takes
    the keywords of `apply_plan_definition` except `trigger` (encounter, practitioner,
    organization, user_type, setting, parameters, now)."""
    req = _Request(kb, subject, data, **context)
    prep = prepared_activity(kb, activity_definition)
    req.evaluate({lib: tuple(sorted(defs)) for lib, defs in prep.cql.items()})
    name = activity_definition.get("id") or "activity"
    resource = req.activity_resource(prep, "activity", name)
    return ApplyResult(None, [resource], req.issues, req.evaluated())
