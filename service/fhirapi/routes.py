"""Routes of the /fhir blueprint: metadata, read, search, $apply, $expand."""

from __future__ import annotations

import datetime as _dt
import logging
import uuid
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from flask import Blueprint, Flask, current_app, request

from service.apply import apply_activity_definition, apply_plan_definition
from service.cdshooks.api import report_rejections
from service.cdshooks.security import (
    FHIR_APPLY,
    ClientJwtGuard,
    install_client_jwt,
    requires_client_jwt,
)
from service.errors import FHIR, ApiError, operation_outcome, register_error_handlers
from service.fhirapi.capability import RESOURCE_TYPES, SEARCH_PARAMS, capability_statement
from service.fhirapi.expand import expand
from service.fhirapi.parameters import ApplyParameters, bad, parse_apply_parameters
from service.fhirapi.responses import fhir_response
from service.http_json import read_json
from service.observability import Metrics
from service.patient_scope import describe, mismatches

log = logging.getLogger(__name__)

bp = Blueprint("fhirapi", __name__)
EXTENSION_KEY = "fhirapi"
_IGNORED_SEARCH = {"_format", "_pretty"}
_SEARCHABLE = {p[0] for p in SEARCH_PARAMS}
_JSON_TYPES = ("application/fhir+json", "application/json", "application/json+fhir")
# Errors under /fhir are OperationOutcomes in application/fhir+json (service/errors.py).
register_error_handlers(bp, FHIR)


def register(
    app: Flask, kb: Any, auth: ClientJwtGuard | None = None, metrics: Metrics | None = None
) -> None:
    """Mount the FHIR face at /fhir for this app and knowledge base.

    `auth` guards $apply (`requires_client_jwt(FHIR_APPLY)`; the app factory passes it when
    CDS_FHIR_AUTH / CDS_AUTH ask for it); None leaves $apply open, as in development mode. Reads,
    searches, $expand, $data-requirements and /fhir/metadata carry no patient data and are always
    public.
    `metrics` (optional) counts $apply data rejected for being about another patient.
    """
    try:
        software = version("anal-dilation-cds")
    except PackageNotFoundError:
        software = "0.0.0"
    loaded_at = _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()
    app.extensions[EXTENSION_KEY] = {
        "kb": kb,
        "capability": capability_statement(
            software,
            loaded_at.replace("+00:00", "Z"),
            apply_authenticated=auth is not None,
            base=getattr(kb, "canonical_base", None),
            publisher=getattr(kb, "publisher", None),
        ),
        "metrics": metrics,
    }
    install_client_jwt(app, FHIR_APPLY, auth)
    app.register_blueprint(bp, url_prefix="/fhir")


def _state() -> dict:
    return current_app.extensions[EXTENSION_KEY]


def _kb() -> Any:
    return _state()["kb"]


def _now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _body() -> Any:
    ctype = (request.mimetype or "").lower()
    if ctype and ctype not in _JSON_TYPES:
        raise ApiError(415, "not-supported", "unsupported media type: send application/fhir+json")
    if not request.get_data(cache=True):
        raise bad("the request body is empty")
    return read_json(bad)


def _check_type(rtype: str) -> None:
    if rtype not in RESOURCE_TYPES:
        raise ApiError(404, "not-supported", "this resource type is not served here")


def _read(rtype: str, rid: str) -> dict:
    _check_type(rtype)
    found = _kb().resolve(f"{rtype}/{rid}")
    if found is None or found.get("resourceType") != rtype:
        raise ApiError(404, "not-found", f"no {rtype} with this id")
    return found


# -- metadata, read, search ---------------------------------------------------------------
@bp.get("/metadata")
def metadata():
    return fhir_response(_state()["capability"])


@bp.get("/<rtype>")
def search(rtype: str):
    _check_type(rtype)
    params: dict[str, list[str]] = {}
    warnings: list[str] = []
    count = None
    for key in request.args:
        values = request.args.getlist(key)
        base = key.partition(":")[0]
        if key == "_count":
            try:
                count = int(values[-1])
            except ValueError:
                raise bad("_count must be an integer") from None
            if count < 0:
                raise bad("_count must not be negative")
        elif base in _SEARCHABLE:
            params[key] = values
        elif key not in _IGNORED_SEARCH:
            warnings.append(f"search parameter {key!r} is not supported and was ignored")
    matches = _kb().search(rtype, params)
    base_url = request.url_root.rstrip("/") + "/fhir"
    shown = matches if count is None else matches[:count]
    entries = [
        {"fullUrl": f"{base_url}/{rtype}/{r['id']}", "resource": r, "search": {"mode": "match"}}
        for r in shown
    ]
    if warnings:
        entries.append(
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": operation_outcome(
                    "not-supported", warnings[0], warnings[1:], severity="warning"
                ),
                "search": {"mode": "outcome"},
            }
        )
    bundle = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": _now_iso()},
        "type": "searchset",
        "total": len(matches),
        "link": [{"relation": "self", "url": request.url}],
        "entry": entries,
    }
    if not entries:
        del bundle["entry"]
    return fhir_response(bundle)


@bp.get("/<rtype>/<rid>")
def read(rtype: str, rid: str):
    return fhir_response(_read(rtype, rid))


# -- $apply -------------------------------------------------------------------------------
def _resolve_canonical(rtype: str, req: ApplyParameters) -> dict:
    canonical = f"{req.url}|{req.version}" if req.version else str(req.url)
    found = _kb().resolve(canonical)
    if found is None or found.get("resourceType") != rtype:
        raise ApiError(404, "not-found", f"no {rtype} with this url (and version)")
    return found


def _check_subject_data(req: ApplyParameters, artifact: dict) -> None:
    """The data must hold the subject's Patient (422) and nothing about anyone else (400: the
    logic would read another patient's findings as the subject's; service/patient_scope.py)."""
    rid = req.subject.partition("/")[2]
    if not any(r.get("resourceType") == "Patient" and r.get("id") == rid for r in req.data):
        raise ApiError(422, "processing", "the data Bundle holds no Patient with the subject's id")
    found = mismatches(
        req.data, rid, source="data", where="parameter 'data'", aliases=req.data_aliases
    )
    if found:
        report_rejections(_state().get("metrics"), log, str(artifact.get("id")), found)
        raise ApiError(
            400,
            "business-rule",
            "the data Bundle holds resources that are not about the subject",
            describe(found, "the subject"),
        )


def _apply_plan(pd: dict, req: ApplyParameters):
    _check_subject_data(req, pd)
    result = apply_plan_definition(_kb(), pd, **req.arguments())
    return fhir_response(result.to_care_plan())


def _apply_activity(ad: dict, req: ApplyParameters):
    _check_subject_data(req, ad)
    result = apply_activity_definition(_kb(), ad, **req.arguments())
    headers = {}
    if result.issues:
        # The resource is the answer; problems setting dynamic values travel in a header-sized
        # summary and in the log, never as a failure.
        headers["X-Apply-Issues"] = str(len(result.issues))
    return fhir_response(result.resource, headers=headers)


@bp.post("/PlanDefinition/<rid>/$apply")
@requires_client_jwt(FHIR_APPLY)
def plan_apply_instance(rid: str):
    pd = _read("PlanDefinition", rid)
    return _apply_plan(pd, parse_apply_parameters(_body(), type_level=False))


@bp.post("/PlanDefinition/$apply")
@requires_client_jwt(FHIR_APPLY)
def plan_apply_type():
    req = parse_apply_parameters(_body(), type_level=True)
    return _apply_plan(_resolve_canonical("PlanDefinition", req), req)


@bp.post("/ActivityDefinition/<rid>/$apply")
@requires_client_jwt(FHIR_APPLY)
def activity_apply_instance(rid: str):
    ad = _read("ActivityDefinition", rid)
    return _apply_activity(ad, parse_apply_parameters(_body(), type_level=False))


@bp.post("/ActivityDefinition/$apply")
@requires_client_jwt(FHIR_APPLY)
def activity_apply_type():
    req = parse_apply_parameters(_body(), type_level=True)
    return _apply_activity(_resolve_canonical("ActivityDefinition", req), req)


# -- $data-requirements --------------------------------------------------------------------
def _module_definition(artifact: dict, requirements: list[dict]) -> dict:
    """A Library of type module-definition describing what an artifact reads (CPG style)."""
    canonical = artifact.get("url", "")
    if artifact.get("version"):
        canonical += "|" + artifact["version"]
    out: dict = {
        "resourceType": "Library",
        "status": "active",
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/library-type",
                    "code": "module-definition",
                }
            ]
        },
        "relatedArtifact": [{"type": "depends-on", "resource": canonical}]
        + [
            {"type": "depends-on", "resource": lib}
            for lib in artifact.get("library") or []
            if isinstance(lib, str)
        ],
    }
    if requirements:
        out["dataRequirement"] = requirements
    return out


@bp.get("/PlanDefinition/<rid>/$data-requirements")
def plan_data_requirements(rid: str):
    pd = _read("PlanDefinition", rid)
    return fhir_response(_module_definition(pd, _kb().data_requirements(pd)))


@bp.get("/Library/<rid>/$data-requirements")
def library_data_requirements(rid: str):
    lib = _read("Library", rid)
    return fhir_response(_module_definition(lib, list(lib.get("dataRequirement") or [])))


# -- ValueSet/$expand ---------------------------------------------------------------------
def _expand_params() -> dict[str, str]:
    """Query parameters (GET) or a Parameters body (POST) → {name: string value}."""
    if request.method == "GET":
        return {k: request.args.get(k, "") for k in request.args}
    body = _body()
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise bad("the request body must be a FHIR Parameters resource")
    out: dict[str, str] = {}
    for p in body.get("parameter") or []:
        if not isinstance(p, dict) or not isinstance(p.get("name"), str):
            raise bad("every parameter needs a name")
        values = [v for k, v in p.items() if k.startswith("value")]
        if len(values) != 1 or isinstance(values[0], dict | list):
            raise bad("every parameter needs one primitive value")
        out[p["name"]] = str(values[0])
    return out


def _int_param(params: dict[str, str], name: str) -> int | None:
    if name not in params:
        return None
    try:
        value = int(params[name])
    except ValueError:
        raise bad(f"{name} must be an integer") from None
    if value < 0:
        raise bad(f"{name} must not be negative")
    return value


def _expand(vs: dict, params: dict[str, str]):
    return fhir_response(
        expand(
            _kb(),
            vs,
            text_filter=params.get("filter") or None,
            offset=_int_param(params, "offset") or 0,
            count=_int_param(params, "count"),
            timestamp=_now_iso(),
        )
    )


@bp.route("/ValueSet/<rid>/$expand", methods=["GET", "POST"])
def expand_instance(rid: str):
    vs = _read("ValueSet", rid)
    return _expand(vs, _expand_params())


@bp.route("/ValueSet/$expand", methods=["GET", "POST"])
def expand_type():
    params = _expand_params()
    if not params.get("url"):
        raise bad("type-level $expand needs the parameter 'url'")
    canonical = params["url"]
    if params.get("valueSetVersion"):
        canonical += "|" + params["valueSetVersion"]
    vs = _kb().resolve(canonical)
    if vs is None or vs.get("resourceType") != "ValueSet":
        raise ApiError(404, "not-found", "no ValueSet with this url (and valueSetVersion)")
    return _expand(vs, params)


# -- anything else under /fhir ------------------------------------------------------------
@bp.route("/<path:anything>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unknown(anything: str):
    if request.method in ("PUT", "PATCH", "DELETE", "POST") or anything.endswith("$apply"):
        raise ApiError(405, "not-supported", "this interaction is not supported")
    raise ApiError(404, "not-found", "not an endpoint of this server")
