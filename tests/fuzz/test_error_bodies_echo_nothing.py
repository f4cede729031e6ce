"""Error bodies never echo a request value: service ids, hook names, keys, field values, methods,
media types, query parameters. Every field of each bad request below carries its own marker;
no error response may contain any marker (compared case-insensitively: some values are
normalised before they could be echoed). Messages are fixed text naming the field path
(docs/security.md, "Other controls")."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator

import pytest
from marshmallow import Schema, ValidationError, fields, validate

from service.errors import INVALID_VALUE, flatten_messages
from tests.fuzz.conftest import GENERATED

SERVICE = "anal-dilation-recommendations"
HOOK = f"/cds-services/{SERVICE}"
_counter = iter(range(10_000))
MARKER = re.compile(r"zqx[a-j]{4}mark")


def m() -> str:
    """A fresh marker: letters only, so it survives any URL or header encoding unchanged."""
    n = next(_counter)
    return "zqx" + "".join("abcdefghij"[int(d)] for d in f"{n:04d}") + "mark"


def patient_view(**extra) -> dict:
    return {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/x", "patientId": "p1"},
        **extra,
    }


def parameters(*items: dict) -> dict:
    return {"resourceType": "Parameters", "parameter": list(items)}


def data(*resources: dict) -> dict:
    return {
        "name": "data",
        "resource": {"resourceType": "Bundle", "entry": [{"resource": r} for r in resources]},
    }


def bad_requests() -> Iterator[tuple[str, str, str, dict]]:
    """(name, method, path, keyword arguments of the test client's open())."""
    # -- CDS Hooks -------------------------------------------------------------------------------
    yield "unknown service", "POST", f"/cds-services/{m()}", {"json": patient_view()}
    yield "unknown service's feedback", "POST", f"/cds-services/{m()}/feedback", {"json": {}}
    yield "unknown method", m().upper(), HOOK, {}
    yield "unknown path", "GET", f"/{m()}/{m()}", {}
    yield "body not JSON", "POST", HOOK, {"data": f"{{{m()}", "content_type": "application/json"}
    yield "every envelope field wrong", "POST", HOOK, {"json": {
        "hook": m(), "hookInstance": m(), "fhirServer": m(), "context": m(), "prefetch": m(),
        "fhirAuthorization": {"access_token": 1, "token_type": m(), "expires_in": m(),
                              "scope": [m()], "subject": {m(): m()}, "patient": m() + "!"},
        m(): m(),
    }}  # fmt: skip
    yield "unsupported hook", "POST", HOOK, {"json": patient_view(hook=m())}
    yield "every context field wrong", "POST", HOOK, {"json": patient_view(
        context={"userId": m(), "patientId": m() + "/", "encounterId": m() + "!", m(): m()}
    )}  # fmt: skip
    yield "order-select with bad draft orders", "POST", HOOK, {"json": patient_view(
        hook="order-select",
        context={"userId": f"Practitioner/{m()}", "patientId": m(),
                 "draftOrders": {"resourceType": m(), "entry": [m()]}, "selections": [m()]},
    )}  # fmt: skip
    yield "order-select naming no draft order", "POST", HOOK, {"json": patient_view(
        hook="order-select",
        context={"userId": "Practitioner/x", "patientId": "p1",
                 "draftOrders": {"resourceType": "Bundle", "entry": []},
                 "selections": [f"ServiceRequest/{m()}"]},
    )}  # fmt: skip
    yield "a fhirServer not allowed", "POST", HOOK, {"json": patient_view(
        fhirServer=f"https://{m()}.example/{m()}",
        fhirAuthorization={"access_token": m(), "token_type": "Bearer", "expires_in": 60,
                           "scope": m(), "subject": m()},
    )}  # fmt: skip
    yield "prefetch of another patient", "POST", HOOK, {"json": patient_view(prefetch={
        "patient": {"resourceType": "Patient", "id": m()},
        m(): {"resourceType": m(), "id": m(), "subject": {"reference": f"Patient/{m()}"}},
    })}  # fmt: skip
    yield "every feedback field wrong", "POST", HOOK + "/feedback", {"json": {"feedback": [
        {"card": m() * 20, "outcome": m(), "outcomeTimestamp": m(), "acceptedSuggestions": m(),
         "overrideReason": {"reason": {"system": [m()], "code": {m(): 1}, "display": 5},
                            "userComment": m() * 300}},
        {"card": m(), "outcome": "accepted", "outcomeTimestamp": m(),
         "acceptedSuggestions": [{"id": [m()]}, m()], "overrideReason": m()},
    ]}}  # fmt: skip
    yield "feedback for a card never issued", "POST", HOOK + "/feedback", {"json": {"feedback": [
        {"card": m(), "outcome": "overridden", "outcomeTimestamp": "2026-01-01T00:00:00Z",
         "overrideReason": {"reason": {"system": m(), "code": m()}, "userComment": m()}},
    ]}}  # fmt: skip
    # -- the FHIR face ---------------------------------------------------------------------------
    yield "unknown resource type", "GET", f"/fhir/{m()}", {}
    yield "unknown resource type read", "GET", f"/fhir/{m()}/{m()}", {}
    yield "unknown PlanDefinition", "GET", f"/fhir/PlanDefinition/{m()}", {}
    yield "unknown $data-requirements", "GET", f"/fhir/PlanDefinition/{m()}/$data-requirements", {}
    yield "unknown endpoint", "GET", f"/fhir/PlanDefinition/{SERVICE}/{m()}", {}
    yield "unsupported interaction", "DELETE", f"/fhir/{m()}/{m()}", {}
    yield "GET on $apply", "GET", f"/fhir/{m()}/$apply", {}
    yield "bad _count", "GET", f"/fhir/PlanDefinition?_count={m()}", {}
    yield (
        "unknown ValueSet url",
        "GET",
        f"/fhir/ValueSet/$expand?url={m()}&valueSetVersion={m()}",
        {},
    )
    yield "bad $expand paging", "GET", f"/fhir/ValueSet/anal-stenosis/$expand?count={m()}", {}
    yield "bad $expand parameters", "POST", "/fhir/ValueSet/$expand", {"json": parameters(
        {"name": m(), "valueCoding": {"code": m()}})}  # fmt: skip
    yield "unsupported media type", "POST", f"/fhir/PlanDefinition/{SERVICE}/$apply", {
        "data": "{}", "content_type": f"text/{m()}"}  # fmt: skip
    apply = f"/fhir/PlanDefinition/{SERVICE}/$apply"
    yield (
        "unknown $apply parameter",
        "POST",
        apply,
        {
            "json": parameters(
                {"name": "subject", "valueString": "Patient/p1"}, {"name": m(), "valueString": m()}
            )
        },
    )
    yield "subject of the wrong type", "POST", apply, {"json": parameters(
        {"name": "subject", "valueString": f"{m()}/{m()}"})}  # fmt: skip
    yield "subject not an id", "POST", apply, {"json": parameters(
        {"name": "subject", "valueReference": {"reference": f"Patient/{m()}!"}})}  # fmt: skip
    yield (
        "subject Coding wrong",
        "POST",
        apply,
        {
            "json": parameters(
                {"name": "subject", "valueCodeableConcept": {"coding": {"code": m()}, "text": m()}}
            )
        },
    )
    yield "subject not in the data", "POST", apply, {"json": parameters(
        {"name": "subject", "valueString": f"Patient/{m()}"},
        data({"resourceType": "Patient", "id": m()}))}  # fmt: skip
    yield (
        "data of another patient",
        "POST",
        apply,
        {
            "json": parameters(
                {"name": "subject", "valueString": "Patient/p1"},
                data(
                    {"resourceType": "Patient", "id": "p1"},
                    {"resourceType": m(), "id": m(), "subject": {"reference": f"Patient/{m()}"}},
                ),
            )
        },
    )
    yield (
        "bad data Bundle",
        "POST",
        apply,
        {
            "json": parameters(
                {"name": "subject", "valueString": "Patient/p1"},
                {"name": "data", "resource": {"resourceType": m(), "entry": [{"resource": m()}]}},
            )
        },
    )
    for value in (
        {"valueDateTime": m()}, {"valueDate": m()}, {"valueInteger": m()},
        {"valueQuantity": {"value": m(), "code": m()}}, {"valueCoding": {"code": [m()]}},
        {"valuePeriod": {"start": m()}}, {m(): m()}, {"valueAttachment": {"url": m()}},
        {f"value{m()}": m()},
        {"valueString": m(), "part": [{"name": m()}]},
    ):  # fmt: skip
        yield f"CQL parameter {sorted(value)[0]}", "POST", apply, {"json": parameters(
            {"name": "subject", "valueString": "Patient/p1"},
            {"name": "parameters", "resource": parameters({"name": m(), **value})},
            data({"resourceType": "Patient", "id": "p1"}))}  # fmt: skip
    yield "unknown canonical", "POST", "/fhir/PlanDefinition/$apply", {"json": parameters(
        {"name": "subject", "valueString": "Patient/p1"},
        {"name": "url", "valueUri": f"https://{m()}"}, {"name": "version", "valueString": m()},
        data({"resourceType": "Patient", "id": "p1"}))}  # fmt: skip
    # -- the preview -----------------------------------------------------------------------------
    yield "preview: unknown service", "POST", "/preview/api/explain", {"json": {
        "serviceId": m(), "request": {"hook": m()}}}  # fmt: skip
    yield (
        "preview: wrong hook",
        "POST",
        "/preview/api/explain",
        {"json": {"serviceId": SERVICE, "request": {"hook": m(), "context": {"patientId": m()}}}},
    )
    yield (
        "preview: no patient",
        "POST",
        "/preview/api/explain",
        {
            "json": {
                "serviceId": SERVICE,
                "request": {"hook": "patient-view", "context": {m(): m()}},
            }
        },
    )
    yield "preview: data of another patient", "POST", "/preview/api/explain", {"json": {
        "serviceId": SERVICE,
        "request": {"hook": "patient-view", "context": {"patientId": "p1"}, "prefetch": {
            m(): {"resourceType": "Observation", "id": m(),
                  "subject": {"reference": f"Patient/{m()}"}}}}}}  # fmt: skip


BAD_REQUESTS = list(bad_requests())


@pytest.fixture
def client(fuzz_app):
    return fuzz_app.test_client()


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [(method, path, kwargs) for _, method, path, kwargs in BAD_REQUESTS],
    ids=[name for name, *_ in BAD_REQUESTS],
)
def test_no_error_body_contains_a_value_of_the_request(client, outbound_connections, method, path,
                                                       kwargs):  # fmt: skip
    sent = json.dumps([method, path, kwargs])
    markers = set(MARKER.findall(sent.lower()))
    assert markers, "the request carries markers"
    resp = client.open(path, method=method, **kwargs)
    GENERATED["error bodies checked for echoes"] += 1
    body = resp.get_data(as_text=True)
    assert 400 <= resp.status_code < 500, (resp.status_code, body[:300])
    assert json.loads(body)["resourceType"] == "OperationOutcome"
    echoed = sorted(mk for mk in markers if mk in body.lower())
    assert not echoed, f"{resp.status_code} body echoes {echoed}: {body[:500]}"


def test_a_validation_message_that_would_quote_the_value_is_replaced_by_fixed_text():
    class Echoing(Schema):
        outcome = fields.String(validate=validate.OneOf(["a", "b"], error="{input} is wrong"))
        items = fields.List(fields.String(validate=validate.Length(max=3, error="{input}!")))

    data = {"outcome": "secret-value", "items": ["ok", "another-secret"]}
    with pytest.raises(ValidationError) as e:
        Echoing().load(data)
    lines = flatten_messages(e.value.messages, "body", data)
    assert sorted(lines) == sorted(
        [f"body.outcome: {INVALID_VALUE}", f"body.items.1: {INVALID_VALUE}"]
    )
    assert "secret" not in json.dumps(lines)
