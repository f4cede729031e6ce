"""The service's OpenAPI 3.1 document (served at GET /openapi.json from service/openapi.json).

The request bodies of the CDS Hooks endpoints (hook invocation, feedback) are generated from
the marshmallow schemas that validate them (service/cdshooks/schemas.py, with apispec), so the
document cannot drift from the validation. The paths, responses and response component schemas
have no marshmallow source and are written out below.

service/openapi.json is the committed output: regenerate it after changing either source with

    python -m tools.openapi_doc --write

(tests/cdshooks/test_openapi_doc.py fails while the committed file is stale). apispec is a
development dependency: the running service only reads the file (it never imports this
module).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from service.cdshooks import schemas

OPENAPI_PATH = Path(__file__).resolve().parents[1] / "service" / "openapi.json"
# The generated component schemas, by marshmallow schema; every other nested schema (the
# feedback's acceptedSuggestions, overrideReason, reason coding) is inlined, so its names do not
# clash with the response components Coding and OverrideReason.
GENERATED = {
    schemas.FhirAuthorizationSchema: "FhirAuthorization",
    schemas.HookRequestSchema: "HookRequest",
    schemas.FeedbackRequestSchema: "FeedbackRequest",
}


def _schema_name(schema) -> str | None:
    cls = schema if isinstance(schema, type) else type(schema)
    return GENERATED.get(cls)


def _context_schema(converter) -> dict:
    """One schema for every hook's context: the union of the fields, required when every hook
    requires them (the hook-specific rules are checked by the service, answered with 400)."""
    generated = [converter.schema2jsonschema(s) for s in schemas.CONTEXT_SCHEMAS.values()]
    properties: dict = {}
    for g in generated:
        properties.update(g["properties"])
    required = [
        r
        for r in generated[0].get("required", [])
        if all(r in g.get("required", []) for g in generated)
    ]
    return {"type": "object", "required": required, "properties": properties}


def request_schemas() -> dict:
    """The request-body component schemas, generated from the marshmallow schemas."""
    plugin = MarshmallowPlugin(schema_name_resolver=_schema_name)
    spec = APISpec(
        title=INFO["title"], version=INFO["version"], openapi_version="3.1.0", plugins=[plugin]
    )
    plugin.map_to_openapi_type(schemas.JsonObject, "object", None)
    for cls, name in GENERATED.items():
        if name not in spec.components.schemas:
            spec.components.schema(name, schema=cls)
    out = spec.to_dict()["components"]["schemas"]
    out["HookRequest"]["properties"]["context"] = _context_schema(plugin.converter)
    return {name: out[name] for name in GENERATED.values()}


def build() -> dict:
    """The whole document."""
    components = dict(SCHEMAS)
    components.update(request_schemas())
    return {
        "openapi": "3.1.0",
        "info": INFO,
        "components": {"schemas": components, "securitySchemes": SECURITY_SCHEMES},
        "paths": PATHS,
    }


def render() -> str:
    return json.dumps(build(), indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help=f"write {OPENAPI_PATH.name}")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        OPENAPI_PATH.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


INFO = {
    "title": "Anal dilation CDS service",
    "version": "0.1.0",
    "description": "CDS Hooks 2.0.1 service (discovery, hook invocation, feedback) plus "
    "operational endpoints. Every error body is a FHIR OperationOutcome. See "
    "docs/cds-hooks.md.",
}

# Response and shared component schemas (no marshmallow source: the service builds these
# bodies itself); the request-body schemas are generated, see build().
SCHEMAS = {
    "OperationOutcome": {
        "type": "object",
        "required": ["resourceType", "issue"],
        "properties": {
            "resourceType": {"const": "OperationOutcome"},
            "issue": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["severity", "code"],
                    "additionalProperties": False,
                    "properties": {
                        "severity": {"enum": ["fatal", "error", "warning", "information"]},
                        "code": {"type": "string", "minLength": 1},
                        "diagnostics": {"type": "string", "minLength": 1},
                    },
                },
            },
        },
    },
    "Coding": {
        "type": "object",
        "required": ["system", "code"],
        "additionalProperties": False,
        "properties": {
            "system": {"type": "string", "minLength": 1},
            "code": {"type": "string", "minLength": 1},
            "display": {"type": "string", "minLength": 1},
        },
    },
    "OverrideReason": {
        "type": "object",
        "required": ["system", "code", "display"],
        "additionalProperties": False,
        "properties": {
            "system": {"type": "string", "minLength": 1},
            "code": {"type": "string", "minLength": 1},
            "display": {"type": "string", "minLength": 1},
        },
    },
    "Source": {
        "type": "object",
        "required": ["label"],
        "additionalProperties": False,
        "properties": {
            "label": {"type": "string", "minLength": 1},
            "url": {"type": "string", "format": "uri", "minLength": 1},
            "icon": {"type": "string", "format": "uri"},
            "topic": {"$ref": "#/components/schemas/Coding"},
        },
    },
    "Action": {
        "type": "object",
        "required": ["type", "description"],
        "additionalProperties": False,
        "properties": {
            "type": {"enum": ["create", "update", "delete"]},
            "description": {"type": "string", "minLength": 1},
            "resource": {
                "type": "object",
                "required": ["resourceType"],
                "properties": {"resourceType": {"type": "string", "minLength": 1}},
            },
            "resourceId": {"type": "string", "minLength": 1},
        },
        "allOf": [
            {
                "if": {"properties": {"type": {"enum": ["create", "update"]}}},
                "then": {"required": ["resource"]},
            },
            {
                "if": {"properties": {"type": {"const": "delete"}}},
                "then": {
                    "required": ["resourceId"],
                    "not": {"required": ["resource"]},
                    "properties": {
                        "resourceId": {
                            "description": "Relative reference Type/id of the resource to delete",
                            "pattern": "^[A-Z][A-Za-z]+/[A-Za-z0-9\\-.]{1,64}$",
                        }
                    },
                },
            },
        ],
    },
    "Suggestion": {
        "type": "object",
        "required": ["label"],
        "additionalProperties": False,
        "properties": {
            "label": {"type": "string", "minLength": 1},
            "uuid": {"type": "string", "format": "uuid"},
            "isRecommended": {"type": "boolean"},
            "actions": {
                "type": "array",
                "minItems": 1,
                "items": {"$ref": "#/components/schemas/Action"},
            },
        },
    },
    "Link": {
        "type": "object",
        "required": ["label", "url", "type"],
        "additionalProperties": False,
        "properties": {
            "label": {"type": "string", "minLength": 1},
            "url": {"type": "string", "format": "uri", "minLength": 1},
            "type": {"enum": ["absolute", "smart"]},
            "appContext": {"type": "string", "minLength": 1},
            "autolaunchable": {"type": "boolean"},
        },
        "if": {"properties": {"type": {"const": "absolute"}}},
        "then": {"not": {"required": ["appContext"]}},
    },
    "Card": {
        "type": "object",
        "required": ["summary", "indicator", "source"],
        "additionalProperties": False,
        "properties": {
            "uuid": {"type": "string", "format": "uuid"},
            "summary": {"type": "string", "minLength": 1, "maxLength": 139},
            "detail": {"type": "string", "minLength": 1},
            "indicator": {"enum": ["info", "warning", "critical"]},
            "source": {"$ref": "#/components/schemas/Source"},
            "suggestions": {
                "type": "array",
                "minItems": 1,
                "items": {"$ref": "#/components/schemas/Suggestion"},
            },
            "selectionBehavior": {"enum": ["at-most-one", "any"]},
            "overrideReasons": {
                "type": "array",
                "minItems": 1,
                "items": {"$ref": "#/components/schemas/OverrideReason"},
            },
            "links": {
                "type": "array",
                "minItems": 1,
                "items": {"$ref": "#/components/schemas/Link"},
            },
            "extension": {"type": "object"},
        },
        "dependentRequired": {
            "suggestions": ["selectionBehavior"],
            "selectionBehavior": ["suggestions"],
        },
    },
    "CdsResponse": {
        "type": "object",
        "required": ["cards"],
        "additionalProperties": False,
        "properties": {
            "cards": {"type": "array", "items": {"$ref": "#/components/schemas/Card"}},
            "systemActions": {
                "type": "array",
                "minItems": 1,
                "items": {"$ref": "#/components/schemas/Action"},
            },
        },
    },
    "Service": {
        "type": "object",
        "required": ["hook", "description", "id"],
        "additionalProperties": False,
        "properties": {
            "hook": {"type": "string", "minLength": 1},
            "title": {"type": "string", "minLength": 1},
            "description": {"type": "string", "minLength": 1},
            "id": {"type": "string", "minLength": 1},
            "prefetch": {
                "type": "object",
                "additionalProperties": {"type": "string", "minLength": 1},
            },
            "usageRequirements": {"type": "string", "minLength": 1},
            "extension": {"type": "object"},
        },
    },
    "Discovery": {
        "type": "object",
        "required": ["services"],
        "additionalProperties": False,
        "properties": {
            "services": {"type": "array", "items": {"$ref": "#/components/schemas/Service"}}
        },
    },
    "Empty": {"type": "object", "maxProperties": 0},
    "Health": {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}},
    "Ready": {
        "type": "object",
        "required": ["status", "checks"],
        "properties": {
            "status": {"enum": ["ready", "not-ready"]},
            "checks": {"type": "object", "additionalProperties": {"type": "boolean"}},
        },
    },
}

SECURITY_SCHEMES = {
    "cdsClientJwt": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "CDS Hooks client JWT (ES384/RS384, kid, iss allow-listed, "
        "aud = invoked URL, exp-iat <= 5 min, unique jti). Required "
        "on /cds-services and on /fhir $apply; not required when the "
        "service runs with CDS_AUTH=off (development; CDS_FHIR_AUTH "
        "overrides it for $apply).",
    }
}


def _outcome(description: str, media_type: str) -> dict:
    """A response whose body is an OperationOutcome (every error of every face)."""
    return {
        "description": description,
        "content": {media_type: {"schema": {"$ref": "#/components/schemas/OperationOutcome"}}},
    }


def _fhir_outcome(description: str) -> dict:
    return _outcome(description, "application/fhir+json")


def _json_outcome(description: str) -> dict:
    return _outcome(description, "application/json")


#: Any FHIR resource (the FHIR face's bodies are checked by the service, not by this document).
_RESOURCE = {
    "type": "object",
    "required": ["resourceType"],
    "properties": {"resourceType": {"type": "string", "minLength": 1}},
}
_CLIENT_JWT = [{"cdsClientJwt": []}]
_JWT_REQUIRED = (
    "Bad or missing client JWT (aud = this URL), when required (CDS_FHIR_AUTH, default = CDS_AUTH)"
)


def _fhir_operation(summary: str, security: list, body: bool) -> dict:
    """A FHIR operation ($apply, $expand): a resource in (POST), a resource or an
    OperationOutcome out; 401 only where a client JWT may be required."""
    responses = {
        "200": {
            "description": "Result",
            "content": {"application/fhir+json": {"schema": _RESOURCE}},
        },
        "400": _fhir_outcome("Bad input"),
    }
    if security:
        responses["401"] = _fhir_outcome(_JWT_REQUIRED)
    responses |= {
        "404": _fhir_outcome("Unknown resource or endpoint"),
        "405": _fhir_outcome("Method not allowed"),
        "415": _fhir_outcome("Unsupported media type"),
        "422": _fhir_outcome("Processing problem"),
        "500": _fhir_outcome("Internal error (no detail)"),
    }
    operation: dict = {"summary": summary, "security": security, "responses": responses}
    if body:
        operation["requestBody"] = {
            "required": False,
            "content": {
                "application/fhir+json": {"schema": _RESOURCE},
                "application/json": {"schema": _RESOURCE},
            },
        }
    return operation


def _static(summary: str, media_type: str, description: str | None = None) -> dict:
    """A GET with no authentication and one text body (pages, assets, probes)."""
    content = {media_type: {"schema": {"type": "string"}}}
    return {
        "summary": summary,
        "security": [],
        "responses": {"200": {"description": description or summary, "content": content}},
    }


def _on_instance(path: dict) -> dict:
    """The same operations on `/{id}/...`."""
    id_parameter = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    return {"parameters": [id_parameter], **path}


_CORS_PREFLIGHT = {
    "summary": "CORS preflight",
    "security": [],
    "responses": {
        "200": {
            "description": "CORS preflight: Access-Control-Allow-Origin/Methods/Headers "
            "(Authorization, Content-Type)"
        }
    },
}
_SERVICE_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "A service id from discovery (one per hook: `<PlanDefinition id>-<hook>` "
    "when the PlanDefinition has several hooks), or the PlanDefinition's own id, which answers "
    "each of its hooks (dispatch on the body's hook; not listed when it has several)",
    "schema": {"type": "string"},
}


PATHS = {
    "/cds-services": {
        "get": {
            "summary": "Discovery",
            "security": [{"cdsClientJwt": []}],
            "responses": {
                "200": {
                    "description": "The CDS services",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Discovery"}}
                    },
                },
                "401": _json_outcome("Bad or missing JWT"),
            },
        },
        "options": _CORS_PREFLIGHT,
    },
    "/cds-services/{id}": {
        "parameters": [_SERVICE_ID],
        "post": {
            "summary": "Invoke a CDS service for a hook",
            "security": [{"cdsClientJwt": []}],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/HookRequest"}}
                },
            },
            "responses": {
                "200": {
                    "description": "Cards (possibly none) and system actions",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/CdsResponse"}}
                    },
                },
                "400": _json_outcome(
                    "Malformed JSON, schema "
                    "violation, unsupported "
                    "hook, or "
                    "prefetch/draftOrders "
                    "data not about "
                    "context.patientId"
                ),
                "401": _json_outcome("Bad or missing JWT"),
                "404": _json_outcome("Unknown service"),
                "412": _json_outcome(
                    "Required data could not "
                    "be obtained, or the "
                    "fhirServer returned "
                    "data of another patient"
                ),
                "413": _json_outcome("Request body too large"),
                "500": _json_outcome("Internal error (no trace)"),
            },
        },
        "options": _CORS_PREFLIGHT,
    },
    "/cds-services/{id}/feedback": {
        "parameters": [_SERVICE_ID],
        "post": {
            "summary": "Card feedback",
            "security": [{"cdsClientJwt": []}],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/FeedbackRequest"}}
                },
            },
            "responses": {
                "200": {
                    "description": "Recorded (duplicates are accepted and stored once)",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Empty"}}
                    },
                },
                "400": _json_outcome("Malformed feedback"),
                "401": _json_outcome("Bad or missing JWT"),
                "404": _json_outcome("Unknown service"),
                "413": _json_outcome("Request body too large"),
            },
        },
        "options": _CORS_PREFLIGHT,
    },
    "/healthz": {
        "get": {
            "summary": "Liveness",
            "security": [],
            "responses": {
                "200": {
                    "description": "Alive",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Health"}}
                    },
                }
            },
        }
    },
    "/readyz": {
        "get": {
            "summary": "Readiness (store reachable, content loaded)",
            "security": [],
            "responses": {
                "200": {
                    "description": "Ready",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Ready"}}
                    },
                },
                "503": {
                    "description": "Not ready",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Ready"}}
                    },
                },
            },
        }
    },
    "/metrics": {"get": _static("Prometheus metrics (text format 0.0.4)", "text/plain", "Metrics")},
    "/openapi.json": {
        "get": {
            "summary": "This document",
            "security": [],
            "responses": {
                "200": {
                    "description": "OpenAPI 3.1",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    },
    "/fhir/metadata": {"get": _fhir_operation("CapabilityStatement", [], body=False)},
    "/fhir/{type}": {
        "parameters": [
            {"name": "type", "in": "path", "required": True, "schema": {"type": "string"}}
        ],
        "get": _fhir_operation("Search knowledge artifacts (searchset Bundle)", [], body=False),
    },
    "/fhir/{type}/{id}": {
        "parameters": [
            {"name": "type", "in": "path", "required": True, "schema": {"type": "string"}},
            {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
        ],
        "get": _fhir_operation("Read a knowledge artifact", [], body=False),
    },
    "/fhir/PlanDefinition/$apply": {
        "post": _fhir_operation(
            "PlanDefinition/$apply (Parameters in, CarePlan/RequestGroup out)",
            _CLIENT_JWT,
            body=True,
        )
    },
    "/fhir/PlanDefinition/{id}/$apply": _on_instance(
        {"post": _fhir_operation("PlanDefinition/$apply on one instance", _CLIENT_JWT, body=True)}
    ),
    "/fhir/ActivityDefinition/$apply": {
        "post": _fhir_operation("ActivityDefinition/$apply", _CLIENT_JWT, body=True)
    },
    "/fhir/ActivityDefinition/{id}/$apply": _on_instance(
        {
            "post": _fhir_operation(
                "ActivityDefinition/$apply on one instance", _CLIENT_JWT, body=True
            )
        }
    ),
    "/fhir/ValueSet/$expand": {
        "get": _fhir_operation("ValueSet/$expand", [], body=False),
        "post": _fhir_operation("ValueSet/$expand", [], body=True),
    },
    "/fhir/ValueSet/{id}/$expand": _on_instance(
        {
            "get": _fhir_operation("ValueSet/$expand on one instance", [], body=False),
            "post": _fhir_operation("ValueSet/$expand on one instance", [], body=True),
        }
    ),
    "/preview": {"get": _static("Clinician preview page", "text/html")},
    "/preview/diagram": {"get": _static("PlanDefinitions drawn as decision diagrams", "text/html")},
    "/preview/preview.js": {"get": _static("Preview script", "text/javascript")},
    "/preview/preview.css": {"get": _static("Preview style sheet", "text/css")},
    "/preview/api/scenarios": {
        "get": {
            "summary": "Bundled scenario patients",
            "security": [],
            "responses": {
                "200": {
                    "description": "Scenarios",
                    "content": {
                        "application/json": {
                            "schema": {"type": "object", "required": ["scenarios"]}
                        }
                    },
                }
            },
        }
    },
    "/preview/api/explain": {
        "post": {
            "summary": "Explain which actions apply to a pasted Bundle",
            "security": [],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            "responses": {
                "200": {
                    "description": "Applicable actions",
                    "content": {
                        "application/json": {"schema": {"type": "object", "required": ["actions"]}}
                    },
                },
                "400": _json_outcome("Bad input"),
            },
        }
    },
    "/fhir/PlanDefinition/{id}/$data-requirements": {
        "parameters": [
            {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
        ],
        "get": _fhir_operation("Data requirements of a PlanDefinition (Library)", [], body=False),
    },
    "/fhir/Library/{id}/$data-requirements": {
        "parameters": [
            {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
        ],
        "get": _fhir_operation("Data requirements of a Library", [], body=False),
    },
}


if __name__ == "__main__":
    raise SystemExit(main())
