"""FHIR JSON responses of the /fhir face (its errors: service/errors.py, the `FHIR` face)."""

from __future__ import annotations

from typing import Any

from flask import Response

from service.errors import FHIR_JSON, fhir_json

__all__ = ["FHIR_JSON", "fhir_response"]


def fhir_response(resource: Any, status: int = 200, headers: dict | None = None) -> Response:
    resp = fhir_json(resource, status)
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp
