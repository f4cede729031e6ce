"""Flask application factory: settings, content, store, blueprints, CORS, errors, probes, metrics.

`create_app()` loads everything once (the KnowledgeBase with its compiled logic, the discovery
document, key sets, the HTTP session); under gunicorn with `preload_app` that happens once in the
master and is shared by the forked workers. Every error is answered as an OperationOutcome JSON
body, never a stack trace (service/errors.py).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

from flask import Flask, Response, g, request
from flask.wrappers import Request

from service import fhirapi
from service.apply import apply_plan_definition, load_knowledge
from service.apply.values import to_fhir
from service.cdshooks import CdsRuntime, create_blueprint
from service.cdshooks.security import ClientJwtGuard, JwtVerifier
from service.config import ConfigError, Settings
from service.elm.fhir import codings
from service.errors import PLAIN, ApiError, register_error_handlers
from service.knowledge.parameters import resolve_parameters
from service.observability import configure_logging, log_event, standard_metrics
from service.preview import create_blueprint as create_preview_blueprint
from service.store import Store, open_store

log = logging.getLogger("service.app")
OPENAPI_PATH = Path(__file__).resolve().parent / "openapi.json"


def read_body(limit: int) -> bytes:
    """The whole request body, or a 413 once it exceeds `limit` bytes (with or without a
    Content-Length; a stream's read(n) may return less than n, so read to the end)."""
    stream, chunks, total = request.stream, [], 0
    while True:
        chunk = stream.read(min(65536, limit + 1 - total))
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > limit:
            raise ApiError(413, "too-costly", f"request body larger than {limit} bytes")
        chunks.append(chunk)


class BoundedBodyRequest(Request):
    """A request whose body is read when a handler first asks for it (`get_data`, `get_json`,
    `request.data`), never before: authentication runs first, so a client without a valid JWT
    gets its 401 without a sync worker waiting for (or buffering) its body. Read once, bounded
    by MAX_CONTENT_LENGTH (`read_body`: 413 beyond it, chunked bodies included)."""

    def get_data(self, cache: bool = True, as_text: bool = False, parse_form_data: bool = False):
        if getattr(self, "_cached_data", None) is None and self.method in ("POST", "PUT", "PATCH"):
            self._cached_data = read_body(self.max_content_length)
        return super().get_data(cache=cache, as_text=as_text, parse_form_data=parse_form_data)


def _with_deployment_parameters(knowledge, resource: dict | None):
    """The knowledge base with CDS_CQL_PARAMETERS[_FILE] applied: converted and checked once
    (a wrong name or type raises ConfigError: the service does not start), then logged (names
    and values only; an empty object when every parameter keeps the content's default)."""
    values = resolve_parameters(knowledge, resource) if resource else {}
    log_event(
        log,
        "CQL parameter overrides in effect",
        parameters={name: to_fhir(value) for name, value in sorted(values.items())},
    )
    return knowledge.with_parameters(values) if values else knowledge


def _fhir_apply_auth(settings: Settings, runtime: CdsRuntime, store) -> ClientJwtGuard | None:
    """The JWT guard of the FHIR face's $apply (CDS_FHIR_AUTH, by default the same as CDS_AUTH)."""
    if not settings.fhir_auth_required:
        if settings.auth_enabled:
            log_event(
                log,
                "CDS_FHIR_AUTH=off: /fhir $apply accepts patient data without a client JWT",
                logging.WARNING,
            )
        return None
    return ClientJwtGuard(
        verifier=runtime.verifier or JwtVerifier(settings, store),
        invoked_url=runtime.invoked_url,
        on_failure=lambda: runtime.metrics.inc("cds_auth_failures_total"),
    )


def create_app(
    config: Settings | None = None,
    *,
    knowledge=None,
    apply: Callable | None = None,
    store: Store | None = None,
) -> Flask:
    if config is None:  # the deployed entry point: gunicorn 'service.app:create_app()'
        try:
            return create_app(Settings.from_env(), knowledge=knowledge, apply=apply, store=store)
        except ConfigError as e:  # a clear message and exit status 1, not a stack trace
            raise SystemExit(f"configuration error, the service does not start: {e}") from None
    settings = config
    configure_logging(settings.log_level)
    settings.check_startup()
    if not settings.auth_enabled:
        log_event(
            log,
            "CDS_AUTH=off: client JWTs are NOT verified; use only for local development",
            logging.WARNING,
        )
    elif not settings.trusted_issuers:
        log_event(
            log,
            "no trusted issuers configured (CDS_TRUSTED_ISSUERS[_FILE]): every CDS Hooks call "
            "will be answered 401; set CDS_AUTH=off for local development",
            logging.WARNING,
        )
    if knowledge is None:
        knowledge = load_knowledge(content_dir=settings.content_dir, cql_dir=settings.cql_dir)
    knowledge = _with_deployment_parameters(knowledge, settings.cql_parameters)
    codings.prepare()  # the EHR-coding normalisation's element table, before workers fork
    if apply is None:
        apply = apply_plan_definition
    store = store or open_store(settings)
    metrics = standard_metrics(settings.metrics_dir)

    app = Flask(__name__)
    app.request_class = BoundedBodyRequest
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.extensions["cds"] = runtime = CdsRuntime(settings, knowledge, apply, store, metrics)
    app.extensions["cds_store"] = store
    app.register_blueprint(create_blueprint(runtime))
    fhirapi.register(
        app, knowledge, auth=_fhir_apply_auth(settings, runtime, store), metrics=metrics
    )
    app.register_blueprint(create_preview_blueprint(runtime))
    openapi_body = OPENAPI_PATH.read_text()
    cors_any = "*" in settings.cors_origins

    @app.before_request
    def _start_timer() -> None:
        # The body is not read here: BoundedBodyRequest reads it, bounded, when the route asks
        # for it, after the blueprint's authentication (Werkzeug alone would silently truncate
        # a chunked body at the limit).
        g.started = time.perf_counter()

    @app.after_request
    def _cors_and_metrics(resp: Response) -> Response:
        origin = request.headers.get("Origin")
        if cors_any:
            resp.headers["Access-Control-Allow-Origin"] = "*"
        elif origin and origin in settings.cors_origins:
            resp.headers["Access-Control-Allow-Origin"] = origin
            resp.headers["Vary"] = "Origin"
        resp.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        resp.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
        resp.headers["Access-Control-Max-Age"] = "86400"
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Cache-Control", "no-store")
        route = request.url_rule.rule if request.url_rule else "unmatched"
        metrics.inc("cds_http_requests_total", route=route, status=str(resp.status_code))
        return resp

    # CDS Hooks, the preview, the probes, any other path: application/json OperationOutcomes
    # (the /fhir blueprint answers its own errors in application/fhir+json).
    register_error_handlers(app, PLAIN)

    @app.get("/healthz")
    def healthz() -> Response:
        return Response('{"status":"ok"}', mimetype="application/json")

    @app.get("/readyz")
    def readyz() -> Response:
        checks = {"store": store.ping(), "content": bool(runtime.services)}
        ok = all(checks.values())
        body = json.dumps({"status": "ready" if ok else "not-ready", "checks": checks})
        return Response(body, status=200 if ok else 503, mimetype="application/json")

    @app.get("/metrics")
    def metrics_endpoint() -> Response:
        return Response(metrics.render(), mimetype="text/plain; version=0.0.4")

    @app.get("/openapi.json")
    def openapi() -> Response:
        return Response(openapi_body, mimetype="application/json")

    return app
