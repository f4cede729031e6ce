"""Errors answered as FHIR OperationOutcome JSON (every error of the HTTP surface)."""

from __future__ import annotations

import json

from flask import Response

FHIR_JSON = "application/fhir+json"


class ApiError(Exception):
    """An error with its HTTP status and OperationOutcome issue code."""

    def __init__(
        self,
        status: int,
        code: str,
        diagnostics: str,
        details: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(diagnostics)
        self.status = status
        self.code = code
        self.diagnostics = diagnostics
        self.details = details or []
        self.headers = headers or {}


def operation_outcome(code: str, diagnostics: str, details: list[str] | None = None) -> dict:
    severity = "error" if code not in {"informational"} else "information"
    issues = [{"severity": severity, "code": code, "diagnostics": diagnostics}]
    for d in details or ():
        issues.append({"severity": severity, "code": code, "diagnostics": d})
    return {"resourceType": "OperationOutcome", "issue": issues}


def outcome_response(
    status: int,
    code: str,
    diagnostics: str,
    details: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = json.dumps(operation_outcome(code, diagnostics, details))
    resp = Response(body, status=status, mimetype="application/json")
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def flatten_messages(messages, prefix: str = "") -> list[str]:
    """marshmallow error messages as 'path: message' lines (values are never echoed)."""
    out: list[str] = []
    if isinstance(messages, dict):
        for k, v in messages.items():
            key = f"{prefix}.{k}" if prefix and k != "_schema" else (prefix or str(k))
            if k == "_schema" and not prefix:
                key = "request"
            out.extend(flatten_messages(v, key))
    elif isinstance(messages, list):
        for m in messages:
            if isinstance(m, dict | list):
                out.extend(flatten_messages(m, prefix))
            else:
                out.append(f"{prefix}: {m}" if prefix else str(m))
    else:
        out.append(f"{prefix}: {messages}" if prefix else str(messages))
    return out
