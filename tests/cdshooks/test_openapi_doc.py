"""service/openapi.json is the output of tools/openapi_doc.py: its request-body schemas are
generated from the marshmallow schemas that validate the requests, so a change to either source
must be followed by `python -m tools.openapi_doc --write`."""

from __future__ import annotations

import json

from tools import openapi_doc


def test_the_committed_openapi_document_is_the_generated_one():
    committed = openapi_doc.OPENAPI_PATH.read_text()
    assert json.loads(committed) == openapi_doc.build(), (
        "service/openapi.json is stale: run python -m tools.openapi_doc --write"
    )
    assert committed == openapi_doc.render()


def test_the_request_bodies_follow_the_marshmallow_validation():
    schemas = openapi_doc.build()["components"]["schemas"]
    auth = schemas["FhirAuthorization"]
    assert auth["properties"]["token_type"]["pattern"] == "^[Bb][Ee][Aa][Rr][Ee][Rr]$"
    assert set(auth["required"]) == {"access_token", "token_type", "scope", "subject"}
    hook = schemas["HookRequest"]
    assert hook["properties"]["fhirServer"]["format"] == "uri"
    assert set(hook["properties"]["context"]["required"]) == {"userId", "patientId"}
    item = schemas["FeedbackRequest"]["properties"]["feedback"]["items"]
    assert item["properties"]["outcomeTimestamp"]["format"] == "date-time"
    # the response components keep their own meaning (no clash with the feedback's nested ones)
    assert schemas["OverrideReason"]["required"] == ["system", "code", "display"]
