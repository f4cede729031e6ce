"""Routes of the clinician preview (a development and review tool; see docs/preview.md).

- `GET /preview`                 the page: scenario or pasted Bundle → hook call → cards, feedback
- `GET /preview/diagram`         every loaded PlanDefinition drawn as a decision diagram
- `GET /preview/api/scenarios`   the bundled example patients (`example_patients/`, package data),
                                 dated relative to now (service.preview.examples); read-only
- `POST /preview/api/explain`    the pertinent evidence behind each applicable action for the same
                                 data a hook call carries (only when client JWTs are not verified)
- `GET /preview/preview.js|css`  the page's script and style

The page calls the real CDS Hooks endpoints from the browser (same origin); nothing here
re-implements card building. Every value shown is escaped (Jinja autoescape on the server,
`textContent` in the browser).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

from flask import Blueprint, Response, render_template

from service import conventions
from service.apply.requests import apply_request_for_hook, draft_orders
from service.cdshooks.api import report_rejections
from service.errors import ApiError
from service.fhirclient import bundle_resources
from service.http_json import read_json_object
from service.patient_scope import Mismatch, describe, mismatches
from service.preview.diagram import build_diagram
from service.preview.examples import load_examples

log = logging.getLogger("service.preview")

HERE = Path(__file__).resolve().parent
EVIDENCE_EXT = conventions.PERTINENT_EVIDENCE


def scenario_documents(now: datetime) -> list[dict]:
    out = []
    for s in load_examples(now):
        out.append(
            {
                "slug": s.slug,
                "name": s.name,
                "rows": s.rows,
                "kind": s.kind,
                "hook": s.hook,
                "patientId": s.patient_id,
                "bundle": s.bundle,
                "context": s.context,
                "parameters": s.parameters,
                "expectedActions": s.expected.get("actions", []),
                "absentActions": s.expected.get("absent_actions", []),
            }
        )
    return out


def _json(data, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json")


def _prefetch_items(prefetch) -> list[tuple[str, dict]]:
    """(prefetch key, resource) for every resource of the prefetch, once per type and id."""
    out: list[tuple[str, dict]] = []
    seen: set[tuple] = set()
    for key, value in prefetch.items() if isinstance(prefetch, dict) else ():
        if not isinstance(value, dict):
            continue
        found = bundle_resources(value) if value.get("resourceType") == "Bundle" else [value]
        for r in found:
            if not isinstance(r, dict) or not isinstance(r.get("resourceType"), str):
                continue
            rid = r.get("id")
            if isinstance(rid, str):  # a malformed id (a list...) is kept, never hashed
                ident = (r["resourceType"], rid)
                if ident in seen:
                    continue
                seen.add(ident)
            out.append((key, r))
    return out


def _check_patient_scope(runtime, svc, patient_id: str, items, drafts: list[dict]) -> None:
    """The hook call's rule (service/cdshooks/api.py): data of another patient → 400. Keys are
    named only when they are the service's own prefetch keys (never a request value)."""
    found: list[Mismatch] = []
    for key, r in items:
        where = f"prefetch key {key!r}" if key in svc.prefetch else "prefetch"
        found += mismatches([r], patient_id, source="prefetch", where=where)
    found += mismatches(drafts, patient_id, source="draftOrders", where="context.draftOrders")
    if found:
        report_rejections(runtime.metrics, log, svc.id, found)
        raise ApiError(
            400,
            "business-rule",
            "the request carries data that is not about context.patientId",
            describe(found),
        )


def create_blueprint(runtime) -> Blueprint:
    """The preview blueprint over the app's CdsRuntime (settings, knowledge, apply, services)."""
    bp = Blueprint("preview", __name__, template_folder="templates")

    def asset(name: str, mimetype: str) -> Response:
        return Response((HERE / "assets" / name).read_text(), mimetype=mimetype)

    @bp.get("/preview")
    def page() -> str:
        return render_template(
            "preview/index.html",
            publisher=getattr(runtime.kb, "publisher", None),
            auth_enabled=runtime.settings.auth_enabled,
            services=sorted({d["id"] for d in runtime.discovery["services"]}),
        )

    @bp.get("/preview/diagram")
    def diagram() -> str:
        diagrams = [build_diagram(runtime.kb, pd) for pd in runtime.kb.plan_definitions]
        return render_template(
            "preview/diagram.html",
            diagrams=diagrams,
            publisher=getattr(runtime.kb, "publisher", None),
        )

    @bp.get("/preview/preview.js")
    def script() -> Response:
        return asset("preview.js", "text/javascript")

    @bp.get("/preview/preview.css")
    def style() -> Response:
        return asset("preview.css", "text/css")

    @bp.get("/preview/api/scenarios")
    def scenarios() -> Response:
        return _json({"scenarios": scenario_documents(datetime.now(UTC))})

    @bp.post("/preview/api/explain")
    def explain() -> Response:
        if runtime.settings.auth_enabled:
            raise ApiError(
                403, "forbidden", "the evidence view is only available when CDS_AUTH=off"
            )
        body = read_json_object()
        service_id = body.get("serviceId")
        endpoint = runtime.endpoints.get(service_id) if isinstance(service_id, str) else None
        hook_request = body.get("request")
        if endpoint is None:
            raise ApiError(404, "not-found", "unknown CDS service")
        svc = endpoint.service
        if not isinstance(hook_request, dict) or hook_request.get("hook") not in endpoint.hooks:
            raise ApiError(400, "invalid", "request must be a hook call this service answers")
        context = hook_request.get("context")
        if not isinstance(context, dict) or not isinstance(context.get("patientId"), str):
            raise ApiError(400, "invalid", "context.patientId is required")
        hook = hook_request["hook"]
        items = _prefetch_items(hook_request.get("prefetch"))
        drafts = draft_orders(hook, context)
        _check_patient_scope(runtime, svc, context["patientId"], items, drafts)
        # The same $apply request as the hook call's (service/apply/requests.py).
        apply_request = apply_request_for_hook(hook, context, [r for _, r in items], drafts)
        result = runtime.apply_fn(runtime.kb, svc.plan_definition, **apply_request.arguments())
        actions = []
        for action in result.request_group.get("action") or ():
            evidence = [
                e.get("valueReference") or {}
                for e in action.get("extension") or ()
                if e.get("url") == EVIDENCE_EXT
            ]
            actions.append(
                {
                    "id": action.get("id"),
                    "title": action.get("title"),
                    "evidence": [
                        {k: v for k, v in ref.items() if k in ("reference", "display")}
                        for ref in evidence
                    ],
                }
            )
        return _json({"actions": actions, "issues": len(result.issues or [])})

    return bp
