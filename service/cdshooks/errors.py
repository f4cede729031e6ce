"""Errors answered as FHIR OperationOutcome JSON (every error of the HTTP surface)."""

from __future__ import annotations

import json
from typing import Any

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


_NO_DATA = object()
#: Values shorter than this are not looked for in messages (too many false matches: "a" is in
#: "Not a valid string."), and carry no meaningful data.
MIN_ECHO_LENGTH = 4
INVALID_VALUE = "invalid value"


def _child(data: Any, key: Any) -> Any:
    if isinstance(data, dict) and key in data:
        return data[key]
    if isinstance(data, list) and isinstance(key, int) and 0 <= key < len(data):
        return data[key]
    return _NO_DATA


def _echoes(text: str, value: Any) -> bool:
    """True when `text` contains the (scalar) request value it is about."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return False
    shown = value.strip() if isinstance(value, str) else str(value)
    return len(shown) >= MIN_ECHO_LENGTH and shown in text


def flatten_messages(messages, prefix: str = "", data: Any = _NO_DATA) -> list[str]:
    """marshmallow error messages as 'path: message' lines. Values are never echoed: paths are
    field names and list indices, and when `data` (the validated input) is given, a message that
    contains the value found at its path (a validator whose text formats `{input}`) is replaced
    by the fixed text "invalid value"."""
    out: list[str] = []
    if isinstance(messages, dict):
        for k, v in messages.items():
            key = f"{prefix}.{k}" if prefix and k != "_schema" else (prefix or str(k))
            if k == "_schema" and not prefix:
                key = "request"
            out.extend(flatten_messages(v, key, data if k == "_schema" else _child(data, k)))
    elif isinstance(messages, list):
        for m in messages:
            if isinstance(m, dict | list):
                out.extend(flatten_messages(m, prefix, data))
            else:
                out.append(_line(prefix, m, data))
    else:
        out.append(_line(prefix, messages, data))
    return out


def _line(prefix: str, message: Any, data: Any) -> str:
    text = str(message)
    if _echoes(text, data):
        text = INVALID_VALUE
    return f"{prefix}: {text}" if prefix else text
