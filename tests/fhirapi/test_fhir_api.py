"""The /fhir face as a FHIR client sees it (fixture content on a minimal Flask app)."""

from __future__ import annotations

import json

import pytest
from fhir.resources.R4B import get_fhir_model_class
from flask import Flask

from service.fhirapi import register
from tests.apply.fixture_kb import BASE, mild_pain_patient, severe_pain_patient

FHIR_JSON = "application/fhir+json"


@pytest.fixture(scope="module")
def client(kb):
    app = Flask("fhirapi-test")
    register(app, kb)
    return app.test_client()


def valid(resource: dict) -> dict:
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return resource


def params(*items: dict) -> dict:
    return {"resourceType": "Parameters", "parameter": list(items)}


def subject(ref: str) -> dict:
    return {"name": "subject", "valueString": ref}


def data(bundle: dict) -> dict:
    return {"name": "data", "resource": bundle}


def post(client, url, body, content_type=FHIR_JSON):
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(url, data=raw, content_type=content_type)


def assert_outcome(resp, status: int, code: str | None = None) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == FHIR_JSON
    body = valid(resp.get_json())
    assert body["resourceType"] == "OperationOutcome"
    assert "Traceback" not in resp.get_data(as_text=True)
    if code:
        assert body["issue"][0]["code"] == code
    return body


# -- metadata, read, search -----------------------------------------------------------------
def test_metadata_is_an_r4_capability_statement_listing_resources_and_operations(client):
    resp = client.get("/fhir/metadata")
    assert resp.status_code == 200 and resp.mimetype == FHIR_JSON
    cs = valid(resp.get_json())
    assert cs["fhirVersion"] == "4.0.1" and cs["kind"] == "instance"
    resources = {r["type"]: r for r in cs["rest"][0]["resource"]}
    assert set(resources) == {
        "PlanDefinition",
        "ActivityDefinition",
        "Library",
        "ValueSet",
        "CodeSystem",
    }
    assert {p["name"] for p in resources["Library"]["searchParam"]} == {
        "_id",
        "url",
        "version",
        "name",
        "title",
        "status",
    }
    assert [o["name"] for o in resources["PlanDefinition"]["operation"]] == [
        "apply",
        "data-requirements",
    ]
    assert [o["name"] for o in resources["ValueSet"]["operation"]] == ["expand"]


@pytest.mark.parametrize(
    "path",
    [
        "PlanDefinition/demo-dilation",
        "ActivityDefinition/demo-referral",
        "Library/DemoDilation",
        "ValueSet/demo-anal-stenosis",
        "CodeSystem/demo-local",
    ],
)
def test_read_returns_the_artifact(client, path):
    resp = client.get(f"/fhir/{path}")
    assert resp.status_code == 200 and resp.mimetype == FHIR_JSON
    body = valid(resp.get_json())
    assert f"{body['resourceType']}/{body['id']}" == path


def test_read_of_an_unknown_id_is_a_404_operation_outcome(client):
    assert_outcome(client.get("/fhir/PlanDefinition/nope"), 404, "not-found")


def test_an_unsupported_resource_type_is_a_404(client):
    assert_outcome(client.get("/fhir/Patient/1"), 404)
    assert_outcome(client.get("/fhir/Patient"), 404)


def test_search_by_url_returns_a_searchset_bundle(client):
    resp = client.get(
        "/fhir/PlanDefinition", query_string={"url": f"{BASE}/PlanDefinition/demo-dilation"}
    )
    bundle = valid(resp.get_json())
    assert bundle["type"] == "searchset" and bundle["total"] == 1
    entry = bundle["entry"][0]
    assert entry["search"] == {"mode": "match"}
    assert entry["fullUrl"].endswith("/fhir/PlanDefinition/demo-dilation")


def test_search_without_parameters_lists_all_and_count_limits_the_page(client):
    everything = client.get("/fhir/ActivityDefinition").get_json()
    assert everything["total"] == 5 and len(everything["entry"]) == 5
    page = client.get("/fhir/ActivityDefinition?_count=2").get_json()
    assert page["total"] == 5 and len(page["entry"]) == 2


def test_search_by_name_title_status_version_and_id(client):
    def ids(qs):
        return [
            e["resource"]["id"]
            for e in client.get(f"/fhir/ValueSet?{qs}").get_json().get("entry", [])
        ]

    assert ids("name=demoanal") == ["demo-anal-stenosis"]
    assert ids("title:contains=devices") == ["demo-devices"]
    assert ids("status=draft") == ["demo-devices"]
    assert ids("version=1.0.0&_id=demo-devices") == ["demo-devices"]
    assert ids("name=zzz") == []


def test_an_unknown_search_parameter_is_ignored_with_a_warning_outcome(client):
    bundle = valid(client.get("/fhir/ValueSet?foo=bar").get_json())
    outcome = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert outcome and "foo" in outcome[0]["resource"]["issue"][0]["diagnostics"]
    assert bundle["total"] == 2


def test_a_bad_count_is_a_400(client):
    assert_outcome(client.get("/fhir/ValueSet?_count=lots"), 400, "invalid")


# -- $apply -----------------------------------------------------------------------------------
def test_instance_apply_returns_a_care_plan_with_the_request_group(client):
    body = params(subject("Patient/pro"), data(severe_pain_patient("pro")))
    resp = post(client, "/fhir/PlanDefinition/demo-dilation/$apply", body)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    plan = valid(resp.get_json())
    assert plan["resourceType"] == "CarePlan"
    rg = next(r for r in plan["contained"] if r["resourceType"] == "RequestGroup")
    assert "professional" in [a["id"] for a in rg["action"]]
    assert plan["subject"] == {"reference": "Patient/pro"}


def test_type_level_apply_finds_the_plan_definition_by_url_and_version(client):
    body = params(
        {"name": "url", "valueUri": f"{BASE}/PlanDefinition/demo-dilation"},
        {"name": "version", "valueString": "1.0.0"},
        subject("home"),
        data(mild_pain_patient("home")),
    )
    plan = valid(post(client, "/fhir/PlanDefinition/$apply", body).get_json())
    rg = next(r for r in plan["contained"] if r["resourceType"] == "RequestGroup")
    assert "home" in [a["id"] for a in rg["action"]]


def test_cql_parameters_are_converted_from_fhir_types(client):
    nested = {
        "resourceType": "Parameters",
        "parameter": [{"name": "Pain Threshold", "valueInteger": 9}],
    }
    body = params(
        subject("Patient/pro"),
        data(severe_pain_patient("pro")),
        {"name": "parameters", "resource": nested},
    )
    plan = post(client, "/fhir/PlanDefinition/demo-dilation/$apply", body).get_json()
    rg = next(r for r in plan["contained"] if r["resourceType"] == "RequestGroup")
    assert "professional" not in [a["id"] for a in rg["action"]]
    assert "home" in [a["id"] for a in rg["action"]]


def test_activity_definition_apply_returns_the_proposed_resource(client):
    body = params(
        subject("Patient/home"),
        data(mild_pain_patient("home")),
        {"name": "practitioner", "valueString": "Practitioner/dr"},
    )
    resp = post(client, "/fhir/ActivityDefinition/demo-home-program/$apply", body)
    sr = valid(resp.get_json())
    assert sr["resourceType"] == "ServiceRequest" and sr["status"] == "draft"
    assert sr["subject"] == {"reference": "Patient/home"}
    assert sr["requester"] == {"reference": "Practitioner/dr"}
    assert sr["note"] == [{"text": "Target Hegar size 17"}]
    type_level = params(
        {"name": "url", "valueUri": f"{BASE}/ActivityDefinition/demo-referral"},
        subject("Patient/home"),
        data(mild_pain_patient("home")),
    )
    assert post(client, "/fhir/ActivityDefinition/$apply", type_level).get_json()[
        "resourceType"
    ] == ("ServiceRequest")


def test_apply_on_an_unknown_plan_definition_is_a_404(client):
    body = params(subject("Patient/pro"), data(severe_pain_patient("pro")))
    assert_outcome(post(client, "/fhir/PlanDefinition/nope/$apply", body), 404, "not-found")
    typed = params(
        {"name": "url", "valueUri": "http://nowhere/PlanDefinition/x"},
        subject("p"),
        data(severe_pain_patient("p")),
    )
    assert_outcome(post(client, "/fhir/PlanDefinition/$apply", typed), 404)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ("", "empty"),
        ({"resourceType": "Patient"}, "Parameters"),
        ({"resourceType": "Parameters", "parameter": {"name": "subject"}}, "list"),
        (params(data({"resourceType": "Bundle", "type": "collection"})), "subject"),
        (params(subject("Patient/a"), subject("Patient/b")), "only once"),
        (params(subject("Observation/a")), "Patient"),
        (
            params(subject("Patient/a"), {"name": "bogus", "valueString": "x"}),
            "parameter[1]: unknown $apply parameter name",
        ),
        (
            params(subject("Patient/a"), {"name": "data", "resource": {"resourceType": "Patient"}}),
            "Bundle",
        ),
        (
            params(
                subject("Patient/a"), data({"resourceType": "Bundle", "entry": [{"resource": 3}]})
            ),
            "entry[0]",
        ),
        (
            params(
                subject("Patient/a"),
                {
                    "name": "parameters",
                    "resource": {
                        "resourceType": "Parameters",
                        "parameter": [{"name": "Pain Threshold", "valueInteger": "high"}],
                    },
                },
            ),
            "integer",
        ),
        (
            params(
                subject("Patient/a"),
                {
                    "name": "parameters",
                    "resource": {
                        "resourceType": "Parameters",
                        "parameter": [{"name": "x", "valueAttachment": {}}],
                    },
                },
            ),
            "not supported",
        ),
    ],
)
def test_bad_parameters_are_a_400_saying_what_is_wrong(client, body, fragment):
    resp = post(client, "/fhir/PlanDefinition/demo-dilation/$apply", body)
    outcome = assert_outcome(resp, 400, "invalid")
    assert fragment in outcome["issue"][0]["diagnostics"]


def cql_parameter(**value) -> dict:
    return {
        "name": "parameters",
        "resource": {"resourceType": "Parameters", "parameter": [{"name": "x", **value}]},
    }


# Wrong JSON shapes where Parameters expect a list, an object, a Coding or a string: each one is
# a 400 OperationOutcome, never a 500 and never a value silently made up from the wrong shape.
CODING_SHAPES = {
    "coding an object": {"valueCodeableConcept": {"coding": {"code": "pro"}}},
    "coding a string": {"valueCodeableConcept": {"coding": "pro"}},
    "coding null": {"valueCodeableConcept": {"coding": None}},
    "coding a list of strings": {"valueCodeableConcept": {"coding": ["pro"]}},
    "coding a list of numbers": {"valueCodeableConcept": {"coding": [1]}},
    "coding a list of lists": {"valueCodeableConcept": {"coding": [[{"code": "pro"}]]}},
    "a Coding whose code is a number": {"valueCodeableConcept": {"coding": [{"code": 1}]}},
    "a Coding whose code is a list": {"valueCodeableConcept": {"coding": [{"code": ["pro"]}]}},
    "a Coding whose system is a number": {
        "valueCodeableConcept": {"coding": [{"system": 1, "code": "pro"}]}
    },
    "a Coding without a code and no text": {"valueCodeableConcept": {"coding": [{}]}},
    "text a number": {"valueCodeableConcept": {"text": 5}},
    "valueCodeableConcept a string": {"valueCodeableConcept": "pro"},
    "valueCodeableConcept a list": {"valueCodeableConcept": [{"text": "pro"}]},
    "valueCoding a string": {"valueCoding": "pro"},
    "valueCoding a list": {"valueCoding": [{"code": "pro"}]},
    "valueCoding without a code": {"valueCoding": {}},
    "valueCoding with an empty code": {"valueCoding": {"code": " "}},
    "valueCoding whose code is a list": {"valueCoding": {"code": ["pro"]}},
    "valueCoding whose display is an object": {"valueCoding": {"code": "pro", "display": {}}},
    "valueReference a string": {"valueReference": "Patient/pro"},
    "valueReference with an empty reference": {"valueReference": {"reference": ""}},
    "valueString a number": {"valueString": 7},
    "part an object": {"valueString": "pro", "part": {"name": "x"}},
    "part a string": {"valueString": "pro", "part": "x"},
    "part a list of strings": {"valueString": "pro", "part": ["x"]},
}


@pytest.mark.parametrize("shape", CODING_SHAPES, ids=list(CODING_SHAPES))
@pytest.mark.parametrize("where", ["subject", "userType", "setting", "CQL parameter"])
def test_a_wrongly_shaped_value_is_a_400_wherever_it_is(client, where, shape):
    value = CODING_SHAPES[shape]
    if where == "CQL parameter":
        items = [subject("Patient/pro"), cql_parameter(**value)]
    elif where == "subject":
        items = [{"name": "subject", **value}]
    else:
        items = [subject("Patient/pro"), {"name": where, **value}]
    body = params(*items, data(severe_pain_patient("pro")))
    assert_outcome(post(client, "/fhir/PlanDefinition/demo-dilation/$apply", body), 400, "invalid")


LIST_SHAPES = {
    "parameter an object": {"resourceType": "Parameters", "parameter": {"name": "subject"}},
    "parameter a string": {"resourceType": "Parameters", "parameter": "subject"},
    "parameter a list of strings": {"resourceType": "Parameters", "parameter": ["subject"]},
    "CQL parameters' parameter an object": params(
        subject("Patient/pro"),
        {"name": "parameters", "resource": {"resourceType": "Parameters", "parameter": {}}},
    ),
    "CQL parameters' parameter a string": params(
        subject("Patient/pro"),
        {"name": "parameters", "resource": {"resourceType": "Parameters", "parameter": "x"}},
    ),
    "CQL parameters' parameter a list of numbers": params(
        subject("Patient/pro"),
        {"name": "parameters", "resource": {"resourceType": "Parameters", "parameter": [1]}},
    ),
    "CQL parameters a string": params(
        subject("Patient/pro"), {"name": "parameters", "resource": "x"}
    ),
    "a Quantity whose value is a string": params(
        subject("Patient/pro"), cql_parameter(valueQuantity={"value": "NaN"})
    ),
    "a Quantity whose unit is a number": params(
        subject("Patient/pro"), cql_parameter(valueQuantity={"value": 1, "code": 5})
    ),
    "a Period whose start is a number": params(
        subject("Patient/pro"), cql_parameter(valuePeriod={"start": 5})
    ),
}


@pytest.mark.parametrize("shape", LIST_SHAPES, ids=list(LIST_SHAPES))
def test_a_parameter_list_of_the_wrong_shape_is_a_400(client, shape):
    body = LIST_SHAPES[shape]
    if shape.startswith(("CQL", "a ")):
        body = {**body, "parameter": [*body["parameter"], data(severe_pain_patient("pro"))]}
    resp = post(client, "/fhir/PlanDefinition/demo-dilation/$apply", body)
    assert_outcome(resp, 400, "invalid")


def test_codings_of_the_right_shape_still_name_the_subject_and_setting(client):
    body = params(
        {"name": "subject", "valueCodeableConcept": {"coding": [{"code": "pro"}]}},
        {"name": "setting", "valueCoding": {"system": "http://x", "code": "inpatient"}},
        {"name": "userType", "valueCodeableConcept": {"text": "nurse"}},
        data(severe_pain_patient("pro")),
    )
    resp = post(client, "/fhir/PlanDefinition/demo-dilation/$apply", body)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["subject"]["reference"] == "Patient/pro"


def test_type_level_apply_without_url_is_a_400(client):
    body = params(subject("Patient/pro"), data(severe_pain_patient("pro")))
    assert_outcome(post(client, "/fhir/PlanDefinition/$apply", body), 400)


def test_apply_without_data_is_a_422(client):
    assert_outcome(
        post(client, "/fhir/PlanDefinition/demo-dilation/$apply", params(subject("p"))), 422
    )


def test_apply_with_data_lacking_the_subject_is_a_422(client):
    body = params(subject("Patient/other"), data(severe_pain_patient("pro")))
    outcome = assert_outcome(post(client, "/fhir/PlanDefinition/demo-dilation/$apply", body), 422)
    assert "subject" in outcome["issue"][0]["diagnostics"]
    assert "other" not in json.dumps(outcome)  # the request's value is never echoed


def test_a_wrong_media_type_is_a_415(client):
    body = json.dumps(params(subject("p")))
    assert_outcome(
        post(client, "/fhir/PlanDefinition/demo-dilation/$apply", body, "text/plain"), 415
    )


def test_unsupported_interactions_are_operation_outcomes(client):
    assert_outcome(client.delete("/fhir/PlanDefinition/demo-dilation"), 405)
    assert_outcome(client.put("/fhir/PlanDefinition/demo-dilation", json={}), 405)
    assert_outcome(client.get("/fhir/PlanDefinition/demo-dilation/_history"), 404)
    assert_outcome(client.get("/fhir/PlanDefinition/demo-dilation/$apply"), 405)


# -- ValueSet/$expand -------------------------------------------------------------------------
def test_expand_lists_the_codes_of_a_value_set(client):
    vs = valid(client.get("/fhir/ValueSet/demo-anal-stenosis/$expand").get_json())
    codes = [(c["system"], c["code"]) for c in vs["expansion"]["contains"]]
    assert ("http://snomed.info/sct", "64153009") in codes
    assert ("http://hl7.org/fhir/sid/icd-10-cm", "K62.4") in codes
    assert vs["expansion"]["total"] == 3


def test_expand_includes_whole_local_code_systems_and_filters_by_text(client):
    vs = client.get(
        f"/fhir/ValueSet/$expand?url={BASE}/ValueSet/demo-devices&filter=hegar"
    ).get_json()
    assert [c["code"] for c in valid(vs)["expansion"]["contains"]] == ["hegar-dilator-set"]


def test_expand_by_post_with_parameters_and_paging(client):
    body = params(
        {"name": "url", "valueUri": f"{BASE}/ValueSet/demo-anal-stenosis"},
        {"name": "count", "valueInteger": 1},
        {"name": "offset", "valueInteger": 1},
    )
    vs = valid(post(client, "/fhir/ValueSet/$expand", body).get_json())
    assert vs["expansion"]["total"] == 3 and len(vs["expansion"]["contains"]) == 1


def test_expand_of_an_unknown_value_set_is_a_404(client):
    assert_outcome(client.get("/fhir/ValueSet/$expand?url=http://nowhere/vs"), 404)
    assert_outcome(client.get("/fhir/ValueSet/nope/$expand"), 404)
    assert_outcome(client.get("/fhir/ValueSet/$expand"), 400)


def test_activity_definition_apply_with_a_failing_dynamic_value_still_returns_the_resource(client):
    body = params(subject("Patient/pro"), data(severe_pain_patient("pro")))
    resp = post(client, "/fhir/ActivityDefinition/demo-broken-dynamic/$apply", body)
    task = valid(resp.get_json())
    assert resp.status_code == 200 and task["resourceType"] == "Task"
    assert "description" not in task
    assert resp.headers["X-Apply-Issues"] == "1"


def test_apply_output_never_contains_the_request_data(client):
    body = params(subject("Patient/pro"), data(severe_pain_patient("pro")))
    plan = post(client, "/fhir/PlanDefinition/demo-dilation/$apply", body).get_json()
    types = {r["resourceType"] for r in plan["contained"]}
    assert types <= {"RequestGroup", "ServiceRequest", "DeviceRequest", "Task", "OperationOutcome"}


# -- $data-requirements -----------------------------------------------------------------------
def test_plan_definition_data_requirements_is_a_module_definition_library(client, kb):
    lib = valid(client.get("/fhir/PlanDefinition/demo-dilation/$data-requirements").get_json())
    assert lib["type"]["coding"][0]["code"] == "module-definition"
    assert lib["dataRequirement"] == kb.data_requirements(
        kb.resolve("PlanDefinition/demo-dilation")
    )
    assert {"type": "depends-on", "resource": f"{BASE}/PlanDefinition/demo-dilation|1.0.0"} in (
        lib["relatedArtifact"]
    )


def test_library_data_requirements_lists_the_library_requirements(client):
    lib = valid(client.get("/fhir/Library/DemoDilation/$data-requirements").get_json())
    assert {r["type"] for r in lib["dataRequirement"]} == {"Condition", "Observation", "Patient"}
    assert_outcome(client.get("/fhir/Library/nope/$data-requirements"), 404)
