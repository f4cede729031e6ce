"""One error type and one OperationOutcome builder for every HTTP face (service/errors.py).

Each face writes the same OperationOutcome in its own media type: CDS Hooks, the preview and any
path outside /fhir in `application/json`, the FHIR face in `application/fhir+json`. Statuses,
issue codes, fixed texts and headers (`WWW-Authenticate`, `Allow`) are the same everywhere.
"""

from __future__ import annotations

import pytest
from flask import Blueprint, Flask, abort

from service.errors import (
    FHIR,
    FHIR_JSON,
    PLAIN,
    ApiError,
    operation_outcome,
    register_error_handlers,
)


def test_the_message_is_the_first_issue_and_each_detail_one_more_with_the_same_code():
    outcome = operation_outcome("invalid", "invalid feedback", ["feedback.0.card: missing"])
    assert outcome == {
        "resourceType": "OperationOutcome",
        "issue": [
            {"severity": "error", "code": "invalid", "diagnostics": "invalid feedback"},
            {"severity": "error", "code": "invalid", "diagnostics": "feedback.0.card: missing"},
        ],
    }


def test_an_informational_outcome_has_severity_information():
    outcome = operation_outcome("informational", "nothing to do")
    assert outcome["issue"] == [
        {"severity": "information", "code": "informational", "diagnostics": "nothing to do"}
    ]


def test_warnings_carry_the_severity_asked_for():
    outcome = operation_outcome("not-supported", "a ignored", ["b ignored"], severity="warning")
    assert [i["severity"] for i in outcome["issue"]] == ["warning", "warning"]
    assert [i["diagnostics"] for i in outcome["issue"]] == ["a ignored", "b ignored"]


def test_an_api_error_keeps_its_status_code_message_details_and_headers():
    err = ApiError(401, "login", "authentication failed", headers={"WWW-Authenticate": "Bearer"})
    assert (err.status, err.code, err.diagnostics, err.details) == (
        401,
        "login",
        "authentication failed",
        [],
    )
    assert err.headers == {"WWW-Authenticate": "Bearer"}
    assert str(err) == "authentication failed"


def app_with_two_faces() -> Flask:
    """An app answering JSON errors, with a blueprint answering FHIR JSON errors under /fhir."""
    app = Flask("faces")
    app.config["MAX_CONTENT_LENGTH"] = 100
    register_error_handlers(app, PLAIN)
    fhir = Blueprint("fhir-face", __name__)
    register_error_handlers(fhir, FHIR)

    def routes(target):
        @target.get("/unauthorized")
        def unauthorized():
            raise ApiError(
                401, "login", "authentication failed", headers={"WWW-Authenticate": "Bearer"}
            )

        @target.get("/invalid")
        def invalid():
            raise ApiError(400, "invalid", "invalid request", ["context.patientId: missing"])

        @target.get("/bug")
        def bug():
            raise RuntimeError("secret Patient/p1")

        @target.get("/gone")
        def gone():
            abort(404)

        @target.post("/body")
        def body():
            from flask import request

            return {"size": len(request.get_data())}

    routes(app)
    routes(fhir)
    app.register_blueprint(fhir, url_prefix="/fhir")
    return app


FACES = [("", "application/json"), ("/fhir", FHIR_JSON)]


@pytest.mark.parametrize(("prefix", "mimetype"), FACES, ids=["json face", "fhir face"])
def test_a_401_is_the_same_outcome_with_its_header_in_each_face(prefix, mimetype):
    resp = app_with_two_faces().test_client().get(prefix + "/unauthorized")
    assert resp.status_code == 401
    assert resp.mimetype == mimetype
    assert resp.headers["WWW-Authenticate"] == "Bearer"
    assert resp.get_json() == operation_outcome("login", "authentication failed")


@pytest.mark.parametrize(("prefix", "mimetype"), FACES, ids=["json face", "fhir face"])
def test_details_become_issues_in_each_face(prefix, mimetype):
    resp = app_with_two_faces().test_client().get(prefix + "/invalid")
    assert (resp.status_code, resp.mimetype) == (400, mimetype)
    assert resp.get_json() == operation_outcome(
        "invalid", "invalid request", ["context.patientId: missing"]
    )


@pytest.mark.parametrize(("prefix", "mimetype"), FACES, ids=["json face", "fhir face"])
def test_a_bug_is_a_bare_500_in_each_face(prefix, mimetype):
    resp = app_with_two_faces().test_client().get(prefix + "/bug")
    assert (resp.status_code, resp.mimetype) == (500, mimetype)
    assert resp.get_json() == operation_outcome("exception", "internal error")
    assert "secret" not in resp.get_data(as_text=True)


@pytest.mark.parametrize(("prefix", "mimetype"), FACES, ids=["json face", "fhir face"])
def test_http_errors_get_fixed_texts_in_each_face(prefix, mimetype):
    client = app_with_two_faces().test_client()
    gone = client.get(prefix + "/gone")
    assert (gone.status_code, gone.mimetype) == (404, mimetype)
    assert gone.get_json() == operation_outcome("not-found", "not found")
    too_big = client.post(prefix + "/body", data=b"x" * 101)
    assert (too_big.status_code, too_big.mimetype) == (413, mimetype)
    assert too_big.get_json() == operation_outcome(
        "too-costly", "request body larger than 100 bytes"
    )


def test_a_wrong_method_outside_any_face_names_the_allowed_ones_in_the_allow_header():
    resp = app_with_two_faces().test_client().delete("/invalid")
    assert resp.status_code == 405
    assert "GET" in resp.headers["Allow"]
    assert resp.get_json() == operation_outcome(
        "not-supported", "method not allowed here (see the Allow header)"
    )
