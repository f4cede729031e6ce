"""Response checks: the service's OpenAPI document plus the CDS Hooks 2.0.1 rules it cannot say.

`assert_conforms(path, method, status, body)` validates a response body against the OpenAPI
schema for that operation and status (JSON Schema 2020-12), then `assert_cds_rules` checks the
spec rules: no null or empty optional values anywhere, summary < 140 characters,
selectionBehavior exactly when there are suggestions, at most one recommended suggestion under
at-most-one, override reasons with a display, uuids unique; discovery ids unique.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import jsonschema

OPENAPI = Path(__file__).resolve().parents[2] / "service" / "openapi.json"


@cache
def openapi() -> dict:
    return json.loads(OPENAPI.read_text())


def _operation(path: str, method: str) -> dict:
    doc = openapi()
    for template, item in doc["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path) and method.lower() in item:
            return item[method.lower()]
    raise AssertionError(f"{method} {path} is not described by the OpenAPI document")


def response_schema(path: str, method: str, status: int) -> dict:
    responses = _operation(path, method)["responses"]
    assert str(status) in responses, f"{method} {path} → {status} is not documented"
    content = responses[str(status)].get("content") or {}
    schema = next(iter(content.values()))["schema"] if content else {}
    return {"$defs": {}, "components": openapi()["components"], **schema}


def assert_conforms(path: str, method: str, status: int, body) -> None:
    schema = response_schema(path, method, status)
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
    assert not errors, "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])
    is_hook_call = path.startswith("/cds-services/") and not path.endswith("/feedback")
    if is_hook_call and method.upper() == "POST" and status == 200:
        assert_cds_rules(body)
    if path == "/cds-services" and method.upper() == "GET" and status == 200:
        ids = [s["id"] for s in body["services"]]
        # a service is its URL: a client (the Sandbox) keeps one entry per id
        assert len(ids) == len(set(ids)), f"discovery lists an id twice: {sorted(ids)}"


def _no_nulls(value, where: str = "$") -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            assert v is not None, f"{where}.{k} is null"
            assert v != "", f"{where}.{k} is an empty string"
            _no_nulls(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            assert v is not None, f"{where}[{i}] is null"
            _no_nulls(v, f"{where}[{i}]")


def assert_cds_rules(body: dict) -> None:
    _no_nulls(body)
    uuids: list[str] = []
    for card in body["cards"]:
        assert len(card["summary"]) < 140
        suggestions = card.get("suggestions") or []
        if suggestions:
            assert card.get("selectionBehavior") in ("at-most-one", "any")
        else:
            assert "selectionBehavior" not in card
        if card.get("selectionBehavior") == "at-most-one":
            assert sum(1 for s in suggestions if s.get("isRecommended")) <= 1
        for reason in card.get("overrideReasons") or []:
            assert reason.get("display"), "override reasons need a display"
        uuids.append(card["uuid"])
        uuids.extend(s["uuid"] for s in suggestions)
        for s in suggestions:
            for a in s.get("actions") or []:
                if a["type"] in ("create", "update"):
                    assert isinstance(a["resource"].get("resourceType"), str)
    assert len(uuids) == len(set(uuids)), "card and suggestion uuids must be unique"
