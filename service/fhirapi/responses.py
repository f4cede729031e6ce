"""FHIR JSON responses and OperationOutcome errors for the /fhir face."""

from __future__ import annotations

import json
from typing import Any

from flask import Response

FHIR_JSON = "application/fhir+json"


class FhirError(Exception):
    """A client or processing problem, answered as an OperationOutcome with `status`."""

    def __init__(
        self,
        status: int,
        code: str,
        text: str,
        *,
        issues: list[dict] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(text)
        self.status = status
        self.code = code
        self.text = text
        self.issues = issues or []
        self.headers = headers or {}


def fhir_response(resource: Any, status: int = 200, headers: dict | None = None) -> Response:
    body = json.dumps(resource, ensure_ascii=False, separators=(",", ":"))
    resp = Response(body, status=status, mimetype=FHIR_JSON)
    resp.headers["Content-Type"] = f"{FHIR_JSON}; charset=utf-8"
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def outcome(severity: str, code: str, text: str, extra: list[dict] | None = None) -> dict:
    issues = [{"severity": severity, "code": code, "diagnostics": text}]
    issues.extend(extra or [])
    return {"resourceType": "OperationOutcome", "issue": issues}


def error_response(err: FhirError) -> Response:
    return fhir_response(
        outcome("error", err.code, err.text, err.issues), err.status, headers=err.headers
    )
