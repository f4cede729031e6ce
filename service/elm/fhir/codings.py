"""Coding normalisation of incoming patient data: the shapes EHR feeds record codes in, turned
into the canonical FHIR form our value sets and code declarations use.

Applied once per request where the FHIR data source takes in a patient's resources
(`PatientData`), before anything is indexed or evaluated, so retrieves, `in "Value Set"` tests
on FHIRHelpers conversions, `~` comparisons and the evidence shown on cards all see the same
codes. Generic: nothing here knows the guideline. The rules (docs/terminology.md, "Codings
from EHR feeds"):

| rule | input | becomes |
|---|---|---|
| system alias | `urn:oid:2.16.840.1.113883.6.90` | `http://hl7.org/fhir/sid/icd-10-cm` |
| system alias | `urn:oid:2.16.840.1.113883.6.3` | `http://hl7.org/fhir/sid/icd-10` |
| system alias | `urn:oid:2.16.840.1.113883.6.96` | `http://snomed.info/sct` |
| system alias | `urn:oid:2.16.840.1.113883.6.1` | `http://loinc.org` |
| ICD-10-CM, ICD-10 code | surrounding spaces, lower case, no dot (`k625`) | `K62.5` |
| LOINC, SNOMED CT code | surrounding spaces (` 12063002 `) | `12063002` |
| required binding | Condition.clinicalStatus coding `{"code": "active"}` | + condition-clinical |
| required binding | Condition.verificationStatus `{"code": "refuted"}` | + condition-ver-status |

Anything else is left exactly as recorded: other systems (their codes too), bare OIDs,
ICD codes that do not have the ICD-10 shape (a letter, a digit, an alphanumeric, then up to four
alphanumerics), codes of a Coding that has no system outside the required bindings.

Never in place: a resource that needs a change is replaced by a copy in which only the changed
path (resource -> element -> CodeableConcept -> coding list -> Coding) is new; everything else,
and every resource that needs no change, stays the caller's own object. The request's JSON, and
any dict a caller shares between requests, are never mutated.

Which elements are visited comes from the FHIR R4 model table: every element typed Coding or
CodeableConcept (choice types such as `valueCodeableConcept` included), inside backbone elements
and data types that can hold one, and contained resources. Not visited: `Extension`,
`Reference`, `Identifier` and `Meta` (identifier types, security labels and tags are
administrative codes; what an extension holds is defined by the extension), which keeps the
walk to the clinical codes: about 0.1-0.15 ms for a 100-resource patient. The table of visited
elements is built once per process: at start-up by the service (`prepare`), else on first
use (~13 ms).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

from service.elm.fhir.elements import model_types

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VER_STATUS = "http://terminology.hl7.org/CodeSystem/condition-ver-status"

#: HL7-registered OIDs (only their `urn:oid:` form, as FHIR writes an OID as a URI) -> the
#: canonical FHIR system URL. Sources: docs/terminology.md.
SYSTEM_ALIASES: dict[str, str] = {
    "urn:oid:2.16.840.1.113883.6.90": ICD10CM,
    "urn:oid:2.16.840.1.113883.6.3": ICD10,
    "urn:oid:2.16.840.1.113883.6.96": SNOMED,
    "urn:oid:2.16.840.1.113883.6.1": LOINC,
}

# A dotless ICD-10 / ICD-10-CM code of 4-7 characters: category (letter, digit, alphanumeric)
# then the subcategory characters. Anything else keeps its form (no guessing).
_ICD10_DOTLESS = re.compile(r"[A-Z][0-9][0-9A-Z][0-9A-Z]{1,4}")


def icd10_code(code: str) -> str:
    """ICD-10(-CM) canonical form: trimmed, upper case, the dot after the category
    (`k625 ` -> `K62.5`; `K62` and `K62.5` unchanged)."""
    c = code.strip().upper()
    if len(c) > 3 and "." not in c and _ICD10_DOTLESS.fullmatch(c):
        c = c[:3] + "." + c[3:]
    return c


def trimmed_code(code: str) -> str:
    """LOINC / SNOMED CT canonical form: trimmed (codes are digits and dashes, case-free)."""
    return code.strip()


#: Canonical system -> the function giving a code's canonical form in it.
CODE_FORMS: dict[str, Callable[[str], str]] = {
    ICD10CM: icd10_code,
    ICD10: icd10_code,
    SNOMED: trimmed_code,
    LOINC: trimmed_code,
}

#: (resource type, element) -> (system, its codes): a Coding of that element without a system
#: whose code is one of these gets the system (the element's binding is required: no other
#: code system is allowed there).
REQUIRED_BINDINGS: dict[tuple[str, str], tuple[str, frozenset[str]]] = {
    ("Condition", "clinicalStatus"): (
        CONDITION_CLINICAL,
        frozenset({"active", "recurrence", "relapse", "inactive", "remission", "resolved"}),
    ),
    ("Condition", "verificationStatus"): (
        CONDITION_VER_STATUS,
        frozenset(
            {
                "unconfirmed",
                "provisional",
                "differential",
                "confirmed",
                "refuted",
                "entered-in-error",
            }
        ),
    ),
}

# system as recorded -> (canonical system, code form)
_RULES: dict[str, tuple[str, Callable[[str], str]]] = {
    **{s: (s, form) for s, form in CODE_FORMS.items()},
    **{alias: (s, CODE_FORMS[s]) for alias, s in SYSTEM_ALIASES.items()},
}

Fill = tuple[str, frozenset[str]] | None


def normalize_coding(coding: Any, fill: Fill = None) -> dict | None:
    """The canonical form of one Coding, or None when it is canonical already (or not a
    Coding). `fill`: (system, codes) of a required binding for a Coding without a system."""
    if type(coding) is not dict:
        return None
    system = coding.get("system")
    code = coding.get("code")
    if system is None:
        if fill is not None and type(code) is str and code in fill[1]:
            return {**coding, "system": fill[0]}
        return None
    if type(system) is not str:
        return None
    rule = _RULES.get(system)
    if rule is None:
        return None
    canonical, form = rule
    new_code = form(code) if type(code) is str else code
    if new_code == "":  # a blank code stays as recorded
        new_code = code
    if canonical == system and new_code == code:
        return None
    out = dict(coding)
    out["system"] = canonical
    if new_code != code:
        out["code"] = new_code
    return out


def _codings(codings: list, fill: Fill) -> list | None:
    """A list of Codings with the changed ones replaced, or None when none changes. The
    usual case (every coding canonical, or of a system without rules) is decided inline in
    one pass, without copying."""
    for c in codings:
        if type(c) is not dict:
            continue
        system = c.get("system")
        if system is None:
            if fill is None:
                continue
        elif type(system) is str:
            rule = _RULES.get(system)
            if rule is None:
                continue
            code = c.get("code")
            if rule[0] == system and type(code) is str and rule[1](code) == code:
                continue
        else:
            continue
        break  # this one may change: build the new list
    else:
        return None
    changed = None
    for i, c in enumerate(codings):
        new = normalize_coding(c, fill)
        if new is not None:
            if changed is None:
                changed = list(codings)
            changed[i] = new
    return changed


# Plan of one FHIR type: {json key: (kind, argument)}. Kinds: a CodeableConcept (argument:
# the required-binding fill), a Coding (same), a nested element (argument: its type's name),
# a contained resource (argument unused).
_CONCEPT, _CODING, _NESTED, _RESOURCE = range(4)
Plan = dict[str, tuple[int, Any]]

#: Data types not visited (administrative codes, or not read by the logic).
SKIPPED_TYPES = frozenset({"Extension", "Reference", "Identifier", "Meta"})

_plans: dict[str, Plan] | None = None
_lock = threading.Lock()


def _local(type_name: str) -> str | None:
    return type_name[5:] if type_name.startswith("FHIR.") else None


def _build_plans() -> dict[str, Plan]:
    """Every FHIR type that can hold a Coding -> its plan (from the model table, once)."""
    model = model_types()

    def primitive(name: str) -> bool:
        info = model.get(name)
        return info is None or str(info["elements"].get("value", "")).startswith("System.")

    def elements(name: str) -> dict[str, str]:
        out: dict[str, str] = {}
        local: str | None = name
        for _ in range(20):  # base chain
            info = model.get(local) if local else None
            if info is None:
                break
            for k, t in info["elements"].items():
                out.setdefault(k, t)
            local = _local(info.get("base") or "")
        return out

    # element key -> type name, for every complex type (choice types expanded to their keys)
    edges: dict[str, dict[str, str]] = {}
    for name in model:
        if primitive(name) or name in SKIPPED_TYPES:
            continue
        keys: dict[str, str] = {}
        for element, spec in elements(name).items():
            if spec.startswith("List<"):
                spec = spec[5:-1]
            if spec.startswith("Choice<"):
                for choice in spec[7:-1].split(","):
                    t = _local(choice)
                    if t and not primitive(t) and t not in SKIPPED_TYPES:
                        keys[element + t[:1].upper() + t[1:]] = t
            else:
                t = _local(spec)
                if t and not primitive(t) and t not in SKIPPED_TYPES:
                    keys[element] = t
        edges[name] = keys

    coded = {"CodeableConcept", "Coding", "Resource"}
    relevant = set(coded)
    grew = True
    while grew:  # the types that can hold a Coding, directly or through nested elements
        grew = False
        for name, keys in edges.items():
            if name not in relevant and any(t in relevant for t in keys.values()):
                relevant.add(name)
                grew = True

    plans: dict[str, Plan] = {}
    for name in relevant - coded:
        plan: Plan = {}
        for key, t in sorted(edges[name].items()):
            fill = REQUIRED_BINDINGS.get((name, key))
            if t == "CodeableConcept":
                plan[key] = (_CONCEPT, fill)
            elif t == "Coding":
                plan[key] = (_CODING, fill)
            elif t == "Resource":
                plan[key] = (_RESOURCE, None)
            elif t in relevant:
                plan[key] = (_NESTED, t)
        plans[name] = plan
    return plans


def _the_plans() -> dict[str, Plan]:
    global _plans
    plans = _plans
    if plans is None:
        with _lock:
            if _plans is None:
                _plans = _build_plans()
            plans = _plans
    return plans


def prepare() -> None:
    """Build the table of visited elements now (the service calls it at start-up, before
    gunicorn forks its workers, so no request pays the ~13 ms)."""
    _the_plans()


def _element(value: Any, kind: int, arg: Any, plans: dict[str, Plan]) -> Any:
    """The new value of one element (not a list), or None when it does not change."""
    if type(value) is not dict:
        return None
    if kind == _CONCEPT:
        codings = value.get("coding")
        if type(codings) is not list:
            return None
        new_codings = _codings(codings, arg)
        if new_codings is None:
            return None
        out = dict(value)
        out["coding"] = new_codings
        return out
    if kind == _CODING:
        return normalize_coding(value, arg)
    name = arg if kind == _NESTED else value.get("resourceType")
    plan = plans.get(name) if type(name) is str else None
    return _walk(value, plan, plans) if plan else None


def _walk(obj: dict, plan: Plan, plans: dict[str, Plan]) -> dict | None:
    """The changed copy of one resource or element, or None when nothing changes."""
    changed = None
    lookup = plan.get
    for key, value in obj.items():
        step = lookup(key)
        if step is None:
            continue
        kind, arg = step
        new_value: Any = None
        if kind == _CONCEPT:  # the usual case, inline: a CodeableConcept or a list of them
            for i, concept in enumerate(value if type(value) is list else (value,)):
                if type(concept) is not dict:
                    continue
                codings = concept.get("coding")
                if type(codings) is not list:
                    continue
                new_codings = _codings(codings, arg)
                if new_codings is None:
                    continue
                new_concept = dict(concept)
                new_concept["coding"] = new_codings
                if type(value) is not list:
                    new_value = new_concept
                else:
                    if new_value is None:
                        new_value = list(value)
                    new_value[i] = new_concept
        elif type(value) is list:
            for i, item in enumerate(value):
                new = _element(item, kind, arg, plans)
                if new is not None:
                    if new_value is None:
                        new_value = list(value)
                    new_value[i] = new
        else:
            new_value = _element(value, kind, arg, plans)
        if new_value is not None:
            if changed is None:
                changed = dict(obj)
            changed[key] = new_value
    return changed


def normalize_resource(resource: Any) -> Any:
    """The resource with its codings in canonical form: the same object when nothing changes,
    else a copy (copy-on-write along the changed paths). Non-resources are returned as they
    are."""
    return _normalize(resource, _the_plans())


def _normalize(resource: Any, plans: dict[str, Plan]) -> Any:
    if type(resource) is not dict:
        return resource
    rtype = resource.get("resourceType")
    plan = plans.get(rtype) if type(rtype) is str else None
    if not plan:
        return resource
    changed = _walk(resource, plan, plans)
    return resource if changed is None else changed


def normalize_resources(resources: Iterable[Any]) -> list[Any]:
    """`normalize_resource` of each (a new list; unchanged resources are the same objects)."""
    plans = _the_plans()
    return [_normalize(r, plans) for r in resources]


def normalize_bundle(bundle: dict) -> dict:
    """A Bundle whose entries' resources are normalised (nested Bundles too); the same object
    when nothing changes. For handing another engine the data exactly as ours sees it."""
    entries = bundle.get("entry")
    if type(entries) is not list:
        return bundle
    changed = None
    for i, entry in enumerate(entries):
        r = entry.get("resource") if type(entry) is dict else None
        if type(r) is not dict:
            continue
        new = normalize_bundle(r) if r.get("resourceType") == "Bundle" else normalize_resource(r)
        if new is not r:
            if changed is None:
                changed = list(entries)
            changed[i] = {**entry, "resource": new}
    return bundle if changed is None else {**bundle, "entry": changed}
