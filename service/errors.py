"""Errors of every HTTP face (CDS Hooks, the FHIR face, the preview), answered as OperationOutcome.

- `ApiError`: an HTTP status, an OperationOutcome issue code, a fixed message and a list of
  detail lines (field paths and list positions, never a request value), plus response headers
  (`WWW-Authenticate` on a 401, ...).
- `operation_outcome(...)`: the one OperationOutcome builder: the message is the first issue,
  each detail line one more issue with the same severity and code.
- `register_error_handlers(target, face)`: the one set of Flask error handlers (an `ApiError`,
  an HTTP error raised by Flask/Werkzeug, any other exception as a bare 500), registered on the
  app for the `application/json` faces (CDS Hooks, the preview, the probes) and on the /fhir
  blueprint for the FHIR face (`application/fhir+json`). A face differs only in how its JSON is
  written (`Face`); statuses, issue codes and texts are the same everywhere.
- `flatten_messages(...)`: marshmallow messages as detail lines that never echo the value they
  reject.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException

from service.observability import log_event

log = logging.getLogger("service.errors")
JSON = "application/json"
FHIR_JSON = "application/fhir+json"

#: OperationOutcome issue code of an HTTP error raised by Flask or Werkzeug, by status.
ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    413: "too-costly",
    415: "not-supported",
    429: "throttled",
}


class ApiError(Exception):
    """An error answered as an OperationOutcome: `status`, issue `code`, the fixed message
    `diagnostics`, one more issue per line of `details`, and response `headers`."""

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
        self.details = list(details or ())
        self.headers = dict(headers or {})


def operation_outcome(
    code: str, diagnostics: str, details: list[str] | None = None, *, severity: str | None = None
) -> dict:
    """An OperationOutcome: `diagnostics` first, then one issue per line of `details`, all with
    `code` and `severity` (default: "information" for the code `informational`, else "error")."""
    if severity is None:
        severity = "information" if code == "informational" else "error"
    lines = [diagnostics, *(details or ())]
    issues = [{"severity": severity, "code": code, "diagnostics": line} for line in lines]
    return {"resourceType": "OperationOutcome", "issue": issues}


def _plain_json(data: Any, status: int) -> Response:
    return Response(json.dumps(data), status=status, mimetype=JSON)


def fhir_json(data: Any, status: int = 200) -> Response:
    """`application/fhir+json; charset=utf-8`, compact, non-ASCII kept as is."""
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    resp = Response(body, status=status, mimetype=FHIR_JSON)
    resp.headers["Content-Type"] = f"{FHIR_JSON}; charset=utf-8"
    return resp


@dataclass(frozen=True)
class Face:
    """How one HTTP face writes its JSON responses (the media type and formatting)."""

    name: str
    write: Callable[[Any, int], Response] = field(repr=False)


#: CDS Hooks, the preview, the probes and every path outside /fhir.
PLAIN = Face("application/json", _plain_json)
#: The FHIR face (/fhir).
FHIR = Face("application/fhir+json", fhir_json)


def outcome_response(err: ApiError, face: Face = PLAIN) -> Response:
    """The OperationOutcome answer to `err`, written as `face` writes JSON, with its headers."""
    resp = face.write(operation_outcome(err.code, err.diagnostics, err.details), err.status)
    for name, value in err.headers.items():
        resp.headers[name] = value
    return resp


def http_error(e: HTTPException) -> ApiError:
    """An HTTP error raised by Flask or Werkzeug (routing, size limit...) as an ApiError with a
    fixed text: never the request's path, method or media type."""
    status = e.code or 500
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if status == 413 and limit is not None:
        diagnostics = f"request body larger than {limit} bytes"
    else:
        diagnostics = {
            404: "not found",
            405: "method not allowed here (see the Allow header)",
        }.get(status, e.name)
    headers = {}
    if status == 405 and e.get_response().headers.get("Allow"):
        headers["Allow"] = e.get_response().headers["Allow"]
    return ApiError(status, ISSUE_CODES.get(status, "exception"), diagnostics, headers=headers)


INTERNAL_ERROR = ApiError(500, "exception", "internal error")


def _log_unexpected(e: Exception) -> None:
    """The error's type and the line that raised it: never its message (it may hold patient
    data) nor a trace of local values."""
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb else "?"
    name = type(e).__name__
    log_event(log, "unhandled error", logging.ERROR, error=name, where=where, path=request.path)


def register_error_handlers(target: Flask | Blueprint, face: Face = PLAIN) -> None:
    """Answer every error raised under `target` (an app, or a blueprint whose errors must be
    written another way) as an OperationOutcome written by `face`, never with a trace."""

    @target.errorhandler(ApiError)
    def _api_error(e: ApiError) -> Response:
        return outcome_response(e, face)

    @target.errorhandler(HTTPException)
    def _http_error(e: HTTPException) -> Response:
        return outcome_response(http_error(e), face)

    @target.errorhandler(Exception)
    def _unexpected(e: Exception) -> Response:
        _log_unexpected(e)
        return outcome_response(INTERNAL_ERROR, face)


# -- marshmallow messages as detail lines -----------------------------------------------------
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
