"""Validation of `$apply` input Parameters (explicit checks, plain dicts: no pydantic on the
request path, so a 100-resource data Bundle costs microseconds, not tens of milliseconds).

Accepted parameters (FHIR R4 PlanDefinition/$apply and ActivityDefinition/$apply, plus the CPG
`parameters` and `data` inputs):

| name | type | use |
|---|---|---|
| subject | valueString / valueReference | required, one (`Patient/123` or `123`) |
| encounter, practitioner, organization | valueString / valueReference | optional |
| userType, userLanguage, userTaskContext, setting, settingContext | value[x] | informational |
| parameters | resource Parameters | CQL parameter values (FHIR types → CQL values) |
| data | resource Bundle | the patient's data (required by this service: it stores none) |
| url, version | valueUri / valueString | type-level $apply: the artifact to apply |
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from service.apply.requests import ApplyRequest
from service.apply.values import ConversionError, parameters_to_cql
from service.errors import ApiError
from service.patient_scope import bundle_aliases

_REFERENCE_PARAMS = ("subject", "encounter", "practitioner", "organization")
_INFO_PARAMS = ("userType", "userLanguage", "userTaskContext", "setting", "settingContext")
_KNOWN = {*_REFERENCE_PARAMS, *_INFO_PARAMS, "parameters", "data", "url", "version"}


@dataclass
class ApplyParameters(ApplyRequest):
    """A validated $apply Parameters resource: the $apply request every face makes
    (service/apply/requests.py) plus what only the FHIR face has."""

    #: `fullUrl` → `Type/id` of the data Bundle's entries (resolves `urn:uuid:` references)
    data_aliases: dict[str, str] = field(default_factory=dict)
    url: str | None = None
    version: str | None = None


def bad(text: str) -> ApiError:
    return ApiError(400, "invalid", text)


def _coding_code(coding: Any, name: str, where: str) -> str | None:
    """The code of a Coding of the right shape (an object whose code, system, version and
    display are strings when present); a 400 for any other shape."""
    if not isinstance(coding, dict):
        raise bad(f"parameter {name!r}: {where} must be a Coding (an object)")
    for key in ("code", "system", "version", "display"):
        if key in coding and not isinstance(coding[key], str):
            raise bad(f"parameter {name!r}: {where}.{key} must be a string")
    code = coding.get("code", "").strip()
    return code or None


def _text_of(p: dict, name: str) -> str | None:
    """The value of a reference or informational parameter as text. Every JSON shape other than
    the FHIR one (a Coding that is a string, a `coding` that is an object...) is a 400."""
    if "part" in p and (
        not isinstance(p["part"], list) or not all(isinstance(x, dict) for x in p["part"])
    ):
        raise bad(f"parameter {name!r}: part must be a list of parameters")
    for key in ("valueString", "valueUri", "valueCanonical", "valueCode", "valueId", "valueUrl"):
        if key in p:
            value = p[key]
            if not isinstance(value, str) or not value.strip():
                raise bad(f"parameter {name!r}: {key} must be a non-empty string")
            return value.strip()
    if "valueReference" in p:
        ref = p["valueReference"]
        if (
            not isinstance(ref, dict)
            or not isinstance(ref.get("reference"), str)
            or not ref["reference"].strip()
        ):
            raise bad(f"parameter {name!r}: valueReference needs a reference")
        return ref["reference"].strip()
    if "valueCoding" in p:
        code = _coding_code(p["valueCoding"], name, "valueCoding")
        if code is None:
            raise bad(f"parameter {name!r}: valueCoding needs a code")
        return code
    if "valueCodeableConcept" in p:
        cc = p["valueCodeableConcept"]
        if not isinstance(cc, dict):
            raise bad(f"parameter {name!r}: valueCodeableConcept must be an object")
        codings = cc.get("coding", [])
        if not isinstance(codings, list):
            raise bad(f"parameter {name!r}: valueCodeableConcept.coding must be a list")
        codes = [
            _coding_code(c, name, f"valueCodeableConcept.coding[{i}]")
            for i, c in enumerate(codings)
        ]
        text = cc.get("text")
        if text is not None and not isinstance(text, str):
            raise bad(f"parameter {name!r}: valueCodeableConcept.text must be a string")
        value = next((c for c in codes if c), None) or (text or "").strip()
        if not value:
            raise bad(f"parameter {name!r}: valueCodeableConcept needs a coding code or a text")
        return value
    raise bad(f"parameter {name!r} needs a string or reference value")


_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def _check_reference(name: str, value: str, expected: str) -> str:
    """`Type/id` or a bare id → `expected/id`; the reference itself is never echoed."""
    if "/" in value:
        rtype, _, rid = value.partition("/")
        if rtype != expected:
            raise bad(f"parameter {name!r} must reference a {expected}")
    else:
        rid = value
    if not _FHIR_ID.match(rid):
        raise bad(f"parameter {name!r}: the {expected} id is not a FHIR id")
    return f"{expected}/{rid}"


def _data_resources(bundle: Any) -> list[dict]:
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise bad("parameter 'data' must be a Bundle resource")
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        raise bad("data Bundle: entry must be a list")
    out = []
    for i, e in enumerate(entries):
        res = e.get("resource") if isinstance(e, dict) else None
        if not isinstance(res, dict) or not isinstance(res.get("resourceType"), str):
            raise bad(f"data Bundle: entry[{i}] has no resource with a resourceType")
        rid = res.get("id")
        if rid is not None and not isinstance(rid, str):
            raise bad(f"data Bundle: entry[{i}].resource.id must be a string")
        out.append(res)
    return out


def parse_apply_parameters(body: Any, *, type_level: bool) -> ApplyParameters:
    """Validate a Parameters resource for $apply; raises ApiError(400) with a clear message."""
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise bad("the request body must be a FHIR Parameters resource")
    params = body.get("parameter", [])
    if not isinstance(params, list):
        raise bad("Parameters.parameter must be a list")
    seen: dict[str, list[dict]] = {}
    for i, p in enumerate(params):
        if not isinstance(p, dict) or not isinstance(p.get("name"), str):
            raise bad(f"Parameters.parameter[{i}] needs a name")
        if p["name"] not in _KNOWN:  # named by position: the name is never echoed
            raise bad(f"Parameters.parameter[{i}]: unknown $apply parameter name")
        seen.setdefault(p["name"], []).append(p)
    for name, items in seen.items():
        if len(items) > 1:
            raise bad(f"parameter {name!r} may appear only once (one subject per request)")
    if "subject" not in seen:
        raise bad("parameter 'subject' is required")
    values = {name: _text_of(items[0], name) for name, items in seen.items()
              if name in (*_REFERENCE_PARAMS, *_INFO_PARAMS, "url", "version")}  # fmt: skip
    req = ApplyParameters(subject=_check_reference("subject", values["subject"] or "", "Patient"))
    for name, expected in (
        ("encounter", "Encounter"),
        ("practitioner", "Practitioner"),
        ("organization", "Organization"),
    ):
        if values.get(name):
            setattr(req, name, _check_reference(name, values[name], expected))
    req.user_type = values.get("userType")
    req.setting = values.get("setting")
    req.url = values.get("url")
    req.version = values.get("version")
    if type_level and not req.url:
        raise bad("type-level $apply needs the parameter 'url'")
    if "parameters" in seen:
        nested = seen["parameters"][0].get("resource")
        try:
            req.parameters = parameters_to_cql(nested)
        except ConversionError as exc:
            raise bad(f"parameter 'parameters': {exc}") from None
        except ImportError as exc:  # a CQL datatype the engine does not provide yet
            raise ApiError(422, "not-supported", f"parameter 'parameters': {exc}") from None
    if "data" in seen:
        req.data = _data_resources(seen["data"][0].get("resource"))
        req.data_aliases = bundle_aliases(seen["data"][0].get("resource"))
    else:
        raise ApiError(
            422,
            "required",
            "this service stores no patient data: supply it as the parameter 'data' (a Bundle)",
        )
    return req
