"""The CDS Hooks HTTP endpoints: discovery, invocation and feedback.

Everything is prepared in `CdsRuntime.__init__` (services, prefetch templates, schemas, key
sets, HTTP session); a request only parses its JSON once, validates the envelope, resolves the
prefetch, runs $apply on the loaded content and maps the RequestGroup to cards.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint, Response, g, request
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from service.apply.requests import apply_request_for_hook, draft_orders
from service.cdshooks.cards import CardContext, build_response
from service.cdshooks.discovery import SUPPORTED_HOOKS, build_services, endpoints
from service.cdshooks.prefetch import DataUnavailable, PatientData, resolve
from service.cdshooks.schemas import CONTEXT_SCHEMAS, FEEDBACK_REQUEST, HOOK_REQUEST
from service.cdshooks.security import (
    CDS_HOOKS,
    ClientJwtGuard,
    JwtVerifier,
    Principal,
    install_client_jwt_on,
    requires_client_jwt,
)
from service.config import Settings
from service.errors import ApiError, flatten_messages
from service.fhirclient import FhirAccessDenied, FhirClient, FhirSession, OutboundPolicy
from service.http_json import read_json_object
from service.observability import Metrics, log_event
from service.patient_scope import (
    Mismatch,
    belongs_to,
    counts_by_source,
    describe,
    mismatches,
    type_label,
)

log = logging.getLogger("service.cdshooks")


@dataclass
class LazyFhir:
    """A FhirSession created (policy checked) only when data must actually be fetched."""

    runtime: CdsRuntime
    base_url: str
    token: str | None
    principal: Principal | None
    _session: FhirSession | None = None

    def session(self) -> FhirSession:
        if self._session is None:
            allow = (
                self.principal.issuer.fhir_servers
                if self.principal and self.principal.issuer
                else ()
            )
            vetted = self.runtime.policy.vet(self.base_url, allow)
            self._session = self.runtime.fhir_client.bind(vetted, self.token)
        return self._session

    def prepare(self) -> None:
        """Check the outbound policy (raises FhirAccessDenied) before any fetch is started."""
        self.session()

    @property
    def pool(self):
        return self.runtime.fhir_client.pool

    def remaining(self) -> float:
        return self.session().remaining()

    def abandon(self) -> None:
        if self._session is not None:
            self._session.abandon()

    def fetch(self, query: str) -> list[dict]:
        self.runtime.metrics.inc("cds_prefetch_fetches_total")
        return self.session().fetch(query)

    def resources_of(self, bundle: dict) -> list[dict]:
        return self.session().resources_of(bundle)


class CdsRuntime:
    def __init__(
        self,
        settings: Settings,
        kb,
        apply_fn: Callable,
        store,
        metrics: Metrics,
        fhir_client: FhirClient | None = None,
    ) -> None:
        self.settings = settings
        self.kb = kb
        self.apply_fn = apply_fn
        self.store = store
        self.metrics = metrics
        self.services = build_services(kb)
        #: every id `POST /cds-services/{id}` answers: listed per-hook ids and PlanDefinition ids
        self.endpoints = endpoints(self.services)
        self.discovery = {
            "services": [s.descriptor(h) for s in self.services.values() for h in s.hooks]
        }
        self.discovery_body = json.dumps(self.discovery)
        self.verifier = JwtVerifier(settings, store) if settings.auth_enabled else None
        self.policy = OutboundPolicy(
            deployment_allowlist=settings.fhir_server_allowlist,
            allow_private_addresses=settings.allow_private_fhir_addresses,
            allow_http=settings.allow_http_fhir,
        )
        self.fhir_client = fhir_client or FhirClient(
            connect_timeout=settings.fhir_connect_timeout,
            read_timeout=settings.fhir_read_timeout,
            retries=settings.fhir_retries,
            max_pages=settings.fhir_max_pages,
            total_timeout=settings.fhir_time_budget,
            max_concurrency=settings.fhir_max_concurrency,
            max_bytes_per_call=settings.fhir_max_bytes_per_call,
        )

    def invoked_url(self) -> str:
        """The URL a client JWT's `aud` must name. With verification on, start-up requires
        CDS_EXTERNAL_BASE_URL (Settings.check_startup): never a URL built from the client's Host
        header, which would accept a token minted for another deployment."""
        if self.settings.external_base_url:
            return self.settings.external_base_url + request.path
        return request.base_url  # verification off: used for nothing that grants access

    def client_jwt(self) -> ClientJwtGuard | None:
        """How CDS Hooks calls are authenticated (CDS_AUTH): None when JWTs are not verified."""
        if self.verifier is None:
            return None
        return ClientJwtGuard(
            verifier=self.verifier,
            invoked_url=self.invoked_url,
            on_failure=lambda: self.metrics.inc("cds_auth_failures_total"),
        )


def _validated(schema, data: dict, message: str, prefix: str = "") -> dict:
    """marshmallow load, or a 400 naming every invalid field path."""
    try:
        return schema.load(data)
    except ValidationError as e:
        details = flatten_messages(e.messages, prefix, data)  # never the invalid values
        raise ApiError(400, "invalid", message, details) from None


def _json(data: dict, status: int = 200) -> Response:
    return Response(
        json.dumps(data, separators=(",", ":")), status=status, mimetype="application/json"
    )


def create_blueprint(rt: CdsRuntime) -> Blueprint:
    bp = Blueprint("cdshooks", __name__)
    # Every route checks the client JWT before it runs, so before the body is read (CORS
    # preflights are answered by Flask without running a route).
    install_client_jwt_on(bp, CDS_HOOKS, rt.client_jwt())

    @bp.get("/cds-services")
    @requires_client_jwt(CDS_HOOKS)
    def discovery() -> Response:
        return Response(rt.discovery_body, mimetype="application/json")

    @bp.post("/cds-services/<service_id>")
    @requires_client_jwt(CDS_HOOKS)
    def invoke(service_id: str) -> Response:
        started = time.perf_counter()
        audit = {"hook_instance": "", "service_id": service_id, "hook": "", "status": 500}
        try:
            resp = _invoke(rt, service_id, audit)
            audit["status"] = resp.status_code
            return resp
        except ApiError as e:
            audit["status"] = e.status
            raise
        except HTTPException as e:  # e.g. 413 raised while reading the body
            audit["status"] = e.code or 500
            raise
        finally:
            elapsed = time.perf_counter() - started
            endpoint = rt.endpoints.get(service_id)
            if endpoint is not None:  # recorded under the PlanDefinition's id, as cards are
                audit["service_id"] = endpoint.service.id
                rt.metrics.observe(
                    "cds_request_duration_seconds", elapsed, service=endpoint.service.id
                )
                _audit(rt, audit, elapsed, endpoint=service_id)

    @bp.post("/cds-services/<service_id>/feedback")
    @requires_client_jwt(CDS_HOOKS)
    def feedback(service_id: str) -> Response:
        endpoint = rt.endpoints.get(service_id)
        if endpoint is None:
            raise ApiError(404, "not-found", "unknown CDS service")
        # Stored under the PlanDefinition's id (card uuids derive from it): one card's feedback
        # is kept together, and deduplicated, whichever of its service ids the client used.
        owner = endpoint.service.id
        data = _validated(FEEDBACK_REQUEST, read_json_object(), "invalid feedback")
        check_issued_cards(rt, owner, data["feedback"])
        stored = 0
        for item in data["feedback"]:
            if rt.store.record_feedback(owner, item):
                stored += 1
                rt.metrics.inc("cds_feedback_total", service=owner, outcome=item["outcome"])
        log_event(
            log,
            "feedback",
            service=owner,
            endpoint=service_id,
            items=len(data["feedback"]),
            stored=stored,
            duplicates=len(data["feedback"]) - stored,
        )
        return _json({})

    return bp


def check_issued_cards(rt: CdsRuntime, service_id: str, items: list[dict]) -> None:
    """Feedback is only about cards this service answered (the store remembers the uuids of
    every answered card as long as the audit trail, `Store.issued_cards`). Feedback naming any
    other card is refused as a whole, nothing stored (400 `business-rule`): it is a client bug
    or a forgery, and kept it would skew the per-card acceptance and override figures that
    feedback exists for. Items are named by position, never by the uuid sent."""
    issued = rt.store.issued_cards(service_id, {item["card"] for item in items})
    unknown = [n for n, item in enumerate(items) if item["card"] not in issued]
    if not unknown:
        return
    log_event(
        log,
        "feedback for cards not issued",
        logging.WARNING,
        service=service_id,
        items=len(items),
        unknown=len(unknown),
    )
    raise ApiError(
        400,
        "business-rule",
        "feedback names cards this service did not issue (or whose record has expired); "
        "nothing was stored",
        [f"feedback.{n}.card: not a card this service issued" for n in unknown],
    )


def _invoke(rt: CdsRuntime, service_id: str, audit: dict) -> Response:
    endpoint = rt.endpoints.get(service_id)
    if endpoint is None:
        raise ApiError(404, "not-found", "unknown CDS service")
    svc = endpoint.service  # a PlanDefinition's id dispatches on the body's hook
    body = read_json_object()
    if isinstance(body.get("hookInstance"), str):
        audit["hook_instance"] = body["hookInstance"][:64]
    env = _validated(HOOK_REQUEST, body, "invalid CDS Hooks request")
    hook = env["hook"]
    audit["hook"] = hook[:64]
    if hook not in CONTEXT_SCHEMAS:
        raise ApiError(
            400,
            "not-supported",
            f"the hook is not supported; supported hooks: {', '.join(SUPPORTED_HOOKS)}",
        )
    if hook not in endpoint.hooks:
        raise ApiError(
            400,
            "not-supported",
            f"this service is not registered for the hook (its hooks: {', '.join(endpoint.hooks)})",
        )
    context = _validated(CONTEXT_SCHEMAS[hook], env["context"], "invalid context", "context")
    audit["patient_id"] = context["patientId"]
    audit["user_id"] = context["userId"]
    principal: Principal | None = g.get("principal")
    audit["issuer"] = principal.iss if principal else None

    fhir = None
    if env.get("fhirServer"):
        token = (env.get("fhirAuthorization") or {}).get("access_token")
        fhir = LazyFhir(rt, env["fhirServer"], token, principal)
    try:
        data = resolve(svc.prefetch, env.get("prefetch"), context, fhir)
    except DataUnavailable as e:
        # `reason` is a fixed phrase naming the category ("fhirServer is not on the allow-list
        # for this client", "... resolves to a non-public address", "FHIR server answered 503"):
        # never a URL, a token or patient data (service/fhirclient.py, prefetch.py).
        log_event(
            log,
            "prefetch unavailable",
            logging.WARNING,
            service=svc.id,
            keys=e.keys,
            reason=e.reason,
        )
        raise ApiError(
            412,
            "incomplete",
            "required patient data could not be obtained: provide the prefetch or a reachable, "
            "allowed fhirServer",
            [f"prefetch key {k!r} unavailable" for k in e.keys] + [e.reason],
        ) from None
    except FhirAccessDenied as e:  # pragma: no cover - resolve converts these
        raise ApiError(412, "forbidden", str(e)) from None

    drafts = draft_orders(hook, context)
    check_patient_scope(rt, svc.id, context["patientId"], data, drafts)
    apply_request = apply_request_for_hook(hook, context, data.resources, drafts)
    result = rt.apply_fn(rt.kb, svc.plan_definition, **apply_request.arguments())
    if result.issues:
        log_event(log, "apply issues", logging.WARNING, service=svc.id, issues=len(result.issues))
    out = build_response(
        result.request_group,
        result.resources,
        CardContext(
            service_id=svc.id,  # card uuids stay those of the PlanDefinition's service
            patient_id=context["patientId"],
            plan_definition=svc.plan_definition,
            smart_app_url=rt.settings.smart_app_url,
        ),
    )
    for card in out["cards"]:
        rt.metrics.inc("cds_cards_total", service=svc.id, indicator=card["indicator"])
    audit["cards"] = len(out["cards"])
    audit["indicators"] = [c["indicator"] for c in out["cards"]]
    audit["card_uuids"] = [c["uuid"] for c in out["cards"]]
    audit["fetched"] = data.fetched
    return _json(out)


def check_patient_scope(
    rt: CdsRuntime, service_id: str, patient_id: str, data: PatientData, drafts: list[dict]
) -> None:
    """Every resource that would reach the logic must be about Patient/{patient_id}
    (service/patient_scope.py says why). Client-supplied data of another patient (prefetch,
    draftOrders) → 400; data the service fetched itself → 412: it cannot be obtained reliably."""
    found: list[Mismatch] = []
    for r, origin in zip(data.resources, data.origins, strict=True):
        if not belongs_to(r, patient_id):
            if origin.fetched:
                where = f"prefetch key {origin.key!r} (fetched from fhirServer)"
                found.append(Mismatch("fetched", where, type_label(r)))
            else:
                found.append(Mismatch("prefetch", f"prefetch key {origin.key!r}", type_label(r)))
    found += mismatches(drafts, patient_id, source="draftOrders", where="context.draftOrders")
    if not found:
        return
    report_rejections(rt.metrics, log, service_id, found)
    from_client = [m for m in found if m.source != "fetched"]
    if from_client:
        raise ApiError(
            400,
            "business-rule",
            "the request carries data that is not about context.patientId; no cards computed",
            describe(from_client),
        )
    raise ApiError(
        412,
        "incomplete",
        "the FHIR server returned data that is not about context.patientId: the patient's data "
        "cannot be obtained reliably; no cards computed",
        describe(found),
    )


def report_rejections(
    metrics: Metrics | None, logger: logging.Logger, service_id: str, found: list[Mismatch]
) -> None:
    """One log record and the `cds_patient_scope_rejections_total` counter: rejected resources
    by source and resource type. Never a patient id, a resource id or any other value."""
    counts = counts_by_source(found)
    if metrics is not None:
        for source, by_type in counts.items():
            metrics.inc(
                "cds_patient_scope_rejections_total",
                sum(by_type.values()),
                service=service_id,
                source=source,
            )
    log_event(
        logger,
        "data of another patient rejected",
        logging.WARNING,
        service=service_id,
        rejected=counts,
        total=len(found),
    )


def _audit(rt: CdsRuntime, audit: dict, elapsed: float, endpoint: str | None = None) -> None:
    record = {
        "at": time.time(),
        "cards": 0,
        "indicators": [],
        "card_uuids": [],
        **audit,
        "duration_ms": round(elapsed * 1000, 3),
    }
    try:
        rt.store.record_audit(record)
    except Exception as e:
        log_event(log, "audit write failed", logging.ERROR, error=type(e).__name__)
    log_event(
        log,
        "hook invocation",
        service=record["service_id"],
        endpoint=endpoint or record["service_id"],  # the id the client called
        hook=record["hook"],
        hook_instance=record["hook_instance"],
        status=record["status"],
        cards=record["cards"],
        indicators=record["indicators"],
        fetched=audit.get("fetched", []),
        duration_ms=record["duration_ms"],
    )
