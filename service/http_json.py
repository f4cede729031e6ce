"""Reading a request's JSON body, shared by the HTTP faces (CDS Hooks, FHIR, preview).

The app has already read every POST/PUT/PATCH body once, bounded by the size limit (413 beyond
it, chunked bodies included: `read_body` in service/app.py), so these only parse what is cached.
Errors are raised through `error(text)`; the default is `ApiError(400, "invalid", text)`
(service/errors.py), which every face answers as an OperationOutcome in its own media type.

`loads` is the one strict JSON parser of the service, also used for what a FHIR server answers
(service/fhirclient.py): JSON nested deeper than the parser can follow, which makes Python's json
raise RecursionError (a 500 if uncaught), and the NaN/Infinity literals it would otherwise accept
(not JSON, RFC 8259 §6) are a plain ValueError like any other invalid text.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask import request

from service.errors import ApiError


def _not_json(literal: str) -> Any:
    raise ValueError(f"{literal} is not a JSON value")


def loads(raw: bytes | str) -> Any:
    """Strict `json.loads`: ValueError for anything that is not JSON, including nesting too deep
    to parse (RecursionError), NaN/Infinity literals and bytes that are not UTF-8."""
    try:
        return json.loads(raw, parse_constant=_not_json)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ValueError("not valid JSON") from None


def invalid_request(text: str) -> Exception:
    """A 400 `invalid` OperationOutcome error (the default for the helpers below)."""
    return ApiError(400, "invalid", text)


def read_json(error: Callable[[str], Exception] = invalid_request) -> Any:
    """The request body parsed as JSON (any JSON value); `error(...)` when it is not JSON,
    including nesting too deep for the parser."""
    raw = request.get_data(cache=True)
    try:
        return loads(raw)
    except ValueError:
        raise error("the request body is not valid JSON") from None


def read_json_object(error: Callable[[str], Exception] = invalid_request) -> dict:
    """The request body as a JSON object; `error(...)` for anything else."""
    body = read_json(error)
    if not isinstance(body, dict):
        raise error("the request body must be a JSON object")
    return body
