"""CDS services derived from the loaded PlanDefinitions, and their prefetch templates.

- One service per PlanDefinition, listed once for every hook named by a `named-event` trigger of
  any of its top-level actions (every trigger, not only the first). Every listed id is unique
  (clients such as the CDS Hooks Sandbox key services by URL): a PlanDefinition with one hook is
  listed under its own id; one with several hooks once per hook as `<id>-<hook>`
  (`CdsService.service_id`). `endpoints()` maps every id a client may call to its service: the
  listed ids, each answering its one hook, and the PlanDefinition's own id, which answers all its
  hooks (the id discovery listed for every hook before; still answered, no longer listed).
- Prefetch templates are generated from the content's data requirements
  (`KnowledgeBase.data_requirements(pd)`): one search per DataRequirement, with `code:in=` for
  ValueSet code filters, `code=system|code,...` for direct codes, and a lower date bound where the
  requirement only looks back a bounded time. The Patient is always prefetched. A look-back set
  by a CQL parameter uses the deployment's value (CDS_CQL_PARAMETERS[_FILE]).
- Each descriptor's `extension` names the PlanDefinition (`dilation-cds-plandefinition`) and
  the CQL parameter values the service runs with (`dilation-cds-parameters`: the deployment's
  value, else the content's default; FHIR JSON values).

Date bounds are computed when the service starts (relative look-backs become `ge<date>`). The
bound only moves earlier with time for a client that cached the discovery document, so the data
a stale template returns is a superset of what the logic needs, never less.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from urllib.parse import quote

from service.apply.values import to_fhir
from service.knowledge.loader import KnowledgeError
from service.observability import log_event

log = logging.getLogger("service.cdshooks.discovery")

SUPPORTED_HOOKS = ("patient-view", "order-select", "order-sign")
PATIENT_KEY = "patient"
PATIENT_TEMPLATE = "Patient/{{context.patientId}}"
#: `_count` of every search template (CDS Hooks allows it in prefetch templates): servers page at
#: their own default otherwise (HAPI: 20), and a long record would then need more pages than the
#: service follows (`CDS_FHIR_MAX_PAGES`) and be refused with a 412 on every call.
PREFETCH_PAGE_SIZE = 100

# (resource type, element path) → search parameter for code filters.
CODE_PARAMS = {
    "code": "code",
    "medication": "code",
    "medicationCodeableConcept": "code",
    "category": "category",
    "type": "type",
    "vaccineCode": "vaccine-code",
    "bodySite": "body-site",
    "reasonCode": "reason-code",
    "clinicalStatus": "clinical-status",
    "status": "status",
    "severity": "severity",
}
# (resource type, element path) → search parameter for date filters.
DATE_PARAMS = {
    ("Condition", "onset"): "onset-date",
    ("Condition", "recordedDate"): "recorded-date",
    ("Condition", "abatement"): "abatement-date",
    ("Observation", "effective"): "date",
    ("Observation", "issued"): "date",
    ("Procedure", "performed"): "date",
    ("MedicationRequest", "authoredOn"): "authoredon",
    ("MedicationStatement", "effective"): "effective",
    ("MedicationAdministration", "effective"): "effective-time",
    ("ServiceRequest", "authoredOn"): "authored",
    ("Encounter", "period"): "date",
    ("DiagnosticReport", "effective"): "date",
    ("Immunization", "occurrence"): "date",
    ("AllergyIntolerance", "recordedDate"): "date",
    ("Appointment", "start"): "date",
}
DURATION_DAYS = {"a": 366, "mo": 31, "wk": 7, "d": 1, "h": 1, "min": 1, "s": 1}


@dataclass
class CdsService:
    id: str
    hooks: tuple[str, ...]
    plan_definition: dict
    title: str
    description: str
    prefetch: dict[str, str] = field(default_factory=dict)
    usage_requirements: str | None = None
    #: {name: FHIR JSON value} of the CQL parameters the service runs with (read-only).
    parameters: dict = field(default_factory=dict)

    def service_id(self, hook: str) -> str:
        """The id discovery lists for `hook`: the PlanDefinition's id when it has one hook,
        else `<PlanDefinition id>-<hook>`."""
        return self.id if len(self.hooks) == 1 else f"{self.id}-{hook}"

    def descriptor(self, hook: str) -> dict:
        d = {
            "hook": hook,
            "title": self.title,
            "description": self.description,
            "id": self.service_id(hook),
        }
        if self.prefetch:
            d["prefetch"] = dict(self.prefetch)
        if self.usage_requirements:
            d["usageRequirements"] = self.usage_requirements
        pd = self.plan_definition
        ext = {k: pd[k] for k in ("url", "version") if pd.get(k)}
        extension = {}
        if ext:
            extension["dilation-cds-plandefinition"] = ext
        if self.parameters:
            extension["dilation-cds-parameters"] = dict(self.parameters)
        if extension:
            d["extension"] = extension
        return d


@dataclass(frozen=True)
class Endpoint:
    """What `POST /cds-services/{id}` (and `/feedback`) answers for one id: the PlanDefinition's
    service and the hooks accepted at that id. Records (card uuids, feedback, audit, metrics) use
    `service.id`, the PlanDefinition's id, whichever id was called."""

    id: str
    service: CdsService
    hooks: tuple[str, ...]


def endpoints(services: dict[str, CdsService]) -> dict[str, Endpoint]:
    """Every id a client may call. A per-hook id that collides with another service's id stops
    start-up (two services behind one URL)."""
    out = {svc.id: Endpoint(svc.id, svc, svc.hooks) for svc in services.values()}
    for svc in services.values():
        if len(svc.hooks) < 2:
            continue
        for hook in svc.hooks:
            sid = svc.service_id(hook)
            if sid in out:
                raise KnowledgeError(
                    f"PlanDefinition/{svc.id}: its {hook} service id {sid!r} is already the id "
                    f"of PlanDefinition/{out[sid].service.id}'s service"
                )
            out[sid] = Endpoint(sid, svc, (hook,))
    return out


def named_event_triggers(pd: dict) -> list[str]:
    hooks: list[str] = []
    for action in pd.get("action") or ():
        for trig in action.get("trigger") or ():
            name = trig.get("name")
            if trig.get("type") == "named-event" and name and name not in hooks:
                hooks.append(name)
    return hooks


def build_services(kb, today: date | None = None) -> dict[str, CdsService]:
    today = today or date.today()
    services: dict[str, CdsService] = {}
    for pd in kb.plan_definitions:
        if pd.get("status") == "retired" or not pd.get("id"):
            continue
        hooks = []
        for h in named_event_triggers(pd):
            if h in SUPPORTED_HOOKS:
                hooks.append(h)
            else:
                log_event(log, "trigger not supported", logging.WARNING, service=pd["id"], hook=h)
        if not hooks:
            continue
        prefetch = prefetch_templates(kb.data_requirements(pd), kb, today)
        parameters = {}
        if hasattr(kb, "parameter_values"):  # the effective thresholds, shown in discovery
            parameters = {k: to_fhir(v) for k, v in kb.parameter_values(pd).items()}
        services[pd["id"]] = CdsService(
            id=pd["id"],
            hooks=tuple(hooks),
            plan_definition=pd,
            title=pd.get("title") or pd.get("name") or pd["id"],
            description=_plain_description(pd),
            prefetch=prefetch,
            usage_requirements=pd.get("usage"),
            parameters=parameters,
        )
    return services


def _plain_description(pd: dict) -> str:
    text = pd.get("description") or pd.get("purpose") or pd.get("title") or pd["id"]
    first = text.strip().split("\n\n", 1)[0]
    return re.sub(r"\s+", " ", first)


def prefetch_templates(requirements: list[dict], kb=None, today: date | None = None) -> dict:
    """One query per resource type (and kind of filter), merging the requirements' filters.

    Requirements of one type that filter on the same element by ValueSet are merged into one
    `code:in=vs1,vs2` query (comma = OR in FHIR search); direct codes into one `code=s|c,...`
    query; a requirement with no usable filter makes the type's query unfiltered (it covers the
    others). Keys are the type name, suffixed only when a type needs more than one query.
    """
    today = today or date.today()
    groups: dict[tuple, list[str]] = {}
    for req in requirements or ():
        rtype = req.get("type")
        if not isinstance(rtype, str) or not rtype[:1].isupper() or rtype == "Patient":
            continue
        dates = tuple(
            p for df in req.get("dateFilter") or () for p in _date_params(rtype, df, today)
        )
        filters = [f for f in (_code_filter(cf) for cf in req.get("codeFilter") or ()) if f]
        if len(filters) == 1:
            param, values = filters[0]
            bucket = groups.setdefault((rtype, dates, param), [])
            bucket.extend(v for v in values if v not in bucket)
        elif not filters:
            groups.setdefault((rtype, dates, None), [])
        else:  # several filters on different elements: a query of its own (AND semantics)
            groups[(rtype, dates, tuple(filters))] = []
    unfiltered = {t for (t, d, p) in groups if p is None and not d}
    templates: dict[str, str] = {PATIENT_KEY: PATIENT_TEMPLATE}
    by_type: dict[str, list[str]] = {}
    for (rtype, dates, param), values in groups.items():
        if rtype in unfiltered and (param is not None or dates):
            continue
        params = [("patient", "{{context.patientId}}")]
        if isinstance(param, tuple):
            params += [(p, ",".join(v)) for p, v in param]
        elif param is not None:
            params.append((param, ",".join(values)))
        params += list(dates)
        params.append(("_count", str(PREFETCH_PAGE_SIZE)))
        query = rtype + "?" + "&".join(f"{k}={_q(v)}" for k, v in params)
        by_type.setdefault(rtype, []).append(query)
    for rtype, queries in by_type.items():
        for i, query in enumerate(dict.fromkeys(queries)):
            key = rtype if i == 0 else f"{rtype}-{i + 1}"
            templates[key] = query
    return templates


def _code_filter(cf: dict) -> tuple[str, tuple[str, ...]] | None:
    param = _code_param(cf)
    if param is None:
        return None
    if cf.get("valueSet"):
        return f"{param}:in", (cf["valueSet"],)
    values = tuple(
        f"{c['system']}|{c['code']}" if c.get("system") else c["code"]
        for c in cf.get("code") or ()
        if c.get("code")
    )
    return (param, values) if values else None


def _q(value: str) -> str:
    if value.startswith("{{"):
        return value
    return quote(value, safe="/:|,.-_")


def _code_param(cf: dict) -> str | None:
    if cf.get("searchParam"):
        return cf["searchParam"]
    path = (cf.get("path") or "").split(".", 1)[0]
    return CODE_PARAMS.get(path)


def _date_params(rtype: str, df: dict, today: date) -> list[tuple[str, str]]:
    param = df.get("searchParam") or DATE_PARAMS.get((rtype, (df.get("path") or "").split(".")[0]))
    if not param:
        return []
    out = []
    if isinstance(df.get("valueDuration"), dict):
        dur = df["valueDuration"]
        days = DURATION_DAYS.get(dur.get("code") or dur.get("unit"))
        try:
            amount = float(dur.get("value"))
        except (TypeError, ValueError):
            return []
        if days is None or amount <= 0:
            return []
        lower = today - timedelta(days=int(amount * days) + 1)
        out.append((param, f"ge{lower.isoformat()}"))
    elif isinstance(df.get("valuePeriod"), dict):
        period = df["valuePeriod"]
        if period.get("start"):
            out.append((param, f"ge{period['start']}"))
        if period.get("end"):
            out.append((param, f"le{period['end']}"))
    return out
