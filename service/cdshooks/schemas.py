"""marshmallow schemas for the CDS Hooks 2.0 request envelope, hook contexts and feedback.

Only the envelope is validated here; prefetch resources and draft orders are read as plain dicts
(no FHIR model validation on the request path: see docs/cds-hooks.md, "Performance").
Unknown top-level and context fields are kept (the spec allows extensions).
"""

from __future__ import annotations

import re
from datetime import datetime

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate, validates_schema

REFERENCE = re.compile(r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")
USER_TYPES = ("Practitioner", "PractitionerRole", "Patient", "RelatedPerson")
FHIR_ID = validate.Regexp(r"^[A-Za-z0-9\-.]{1,64}$", error="not a FHIR id")
# Feedback limits (docs/cds-hooks.md, "Feedback"): what one request may ask the store to keep.
MAX_FEEDBACK_ITEMS = 100
MAX_USER_COMMENT = 2000
MAX_ACCEPTED_SUGGESTIONS = 100
MAX_ID_LENGTH = 200  # card and suggestion uuids (36 characters when this service issued them)
MAX_CODING_TEXT = 1000  # override reason system, code and display


def _user_reference(value: str) -> None:
    if not REFERENCE.match(value) or value.split("/", 1)[0] not in USER_TYPES:
        raise ValidationError(f"must be a reference to one of {', '.join(USER_TYPES)} (Type/id)")


class JsonObject(fields.Raw):
    """A JSON object passed through as is (no per-key copy: prefetch can be large)."""

    default_error_messages = {"invalid": "Not a valid mapping type."}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise self.make_error("invalid")
        return value


def _bundle(value: dict) -> None:
    if value.get("resourceType") != "Bundle":
        raise ValidationError("must be a FHIR Bundle")
    entries = value.get("entry", [])
    if not isinstance(entries, list):
        raise ValidationError("Bundle.entry must be a list")
    for i, e in enumerate(entries):
        res = e.get("resource") if isinstance(e, dict) else None
        if not isinstance(res, dict) or not isinstance(res.get("resourceType"), str):
            raise ValidationError(f"entry {i} has no resource")


class FhirAuthorizationSchema(Schema):
    class Meta:
        unknown = INCLUDE

    access_token = fields.String(required=True, validate=validate.Length(min=1))
    token_type = fields.String(
        required=True,
        validate=validate.Regexp(r"(?i)^bearer$"),
        # the same rule for the OpenAPI document: (?i) is not JSON Schema (ECMA-262)
        metadata={"pattern": "^[Bb][Ee][Aa][Rr][Ee][Rr]$"},
    )
    # The spec marks expires_in REQUIRED, but the CDS Hooks Sandbox omits it when its SMART server
    # does not report one: accepted when absent (the token is used for this call only; the FHIR
    # server decides whether it is still valid). When present it must be an integer.
    expires_in = fields.Integer(
        strict=True,
        metadata={
            "description": "Required by the spec; accepted when absent (the CDS Hooks Sandbox"
            " omits it): the token is then used for this call as is"
        },
    )
    scope = fields.String(required=True)
    subject = fields.String(required=True)
    patient = fields.String(validate=FHIR_ID)


class BaseContextSchema(Schema):
    class Meta:
        unknown = INCLUDE

    userId = fields.String(required=True, validate=_user_reference)
    patientId = fields.String(required=True, validate=FHIR_ID)
    encounterId = fields.String(validate=FHIR_ID)


class PatientViewContextSchema(BaseContextSchema):
    pass


class OrderSignContextSchema(BaseContextSchema):
    draftOrders = JsonObject(required=True, validate=_bundle)


class OrderSelectContextSchema(OrderSignContextSchema):
    selections = fields.List(
        fields.String(validate=validate.Regexp(REFERENCE, error="must be Type/id")),
        required=True,
    )

    @validates_schema
    def _selections_are_draft_orders(self, data: dict, **_) -> None:
        drafts = {
            f"{e['resource']['resourceType']}/{e['resource'].get('id')}"
            for e in data["draftOrders"].get("entry", [])
        }
        missing = [s for s in data["selections"] if s not in drafts]
        if missing:
            raise ValidationError(
                f"{len(missing)} selection(s) do not name a draft order", "selections"
            )


CONTEXT_SCHEMAS: dict[str, Schema] = {
    "patient-view": PatientViewContextSchema(),
    "order-select": OrderSelectContextSchema(),
    "order-sign": OrderSignContextSchema(),
}


class HookRequestSchema(Schema):
    class Meta:
        unknown = INCLUDE

    hook = fields.String(
        required=True, metadata={"description": "patient-view, order-select or order-sign"}
    )
    hookInstance = fields.UUID(required=True)
    fhirServer = fields.Url(
        require_tld=False, schemes={"http", "https"}, metadata={"format": "uri"}
    )
    fhirAuthorization = fields.Nested(FhirAuthorizationSchema, allow_none=True)
    context = JsonObject(required=True)
    # context: its OpenAPI schema is derived from CONTEXT_SCHEMAS (tools/openapi_doc.py)
    prefetch = JsonObject(
        allow_none=True, metadata={"additionalProperties": {"type": ["object", "null"]}}
    )

    @validates_schema
    def _server_with_authorization(self, data: dict, **_) -> None:
        if data.get("fhirAuthorization") and not data.get("fhirServer"):
            raise ValidationError("required when fhirAuthorization is present", "fhirServer")


def _rfc3339(value: str) -> None:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError("must be an RFC 3339 date-time") from None
    if "T" not in value:
        raise ValidationError("must be an RFC 3339 date-time")


class CodingSchema(Schema):
    class Meta:
        unknown = INCLUDE

    system = fields.String(required=True, validate=validate.Length(max=MAX_CODING_TEXT))
    code = fields.String(required=True, validate=validate.Length(max=MAX_CODING_TEXT))
    display = fields.String(validate=validate.Length(max=MAX_CODING_TEXT))


class OverrideReasonSchema(Schema):
    class Meta:
        unknown = INCLUDE

    reason = fields.Nested(CodingSchema)
    userComment = fields.String(validate=validate.Length(max=MAX_USER_COMMENT))


class AcceptedSuggestionSchema(Schema):
    class Meta:
        unknown = INCLUDE

    id = fields.String(required=True, validate=validate.Length(min=1, max=MAX_ID_LENGTH))


class FeedbackItemSchema(Schema):
    class Meta:
        unknown = INCLUDE

    card = fields.String(
        required=True,
        validate=validate.Length(min=1, max=MAX_ID_LENGTH),
        metadata={
            "description": "the uuid of a card this service issued (remembered as long as the"
            " audit trail, CDS_AUDIT_RETENTION_DAYS); any other card: 400, nothing stored"
        },
    )
    outcome = fields.String(required=True, validate=validate.OneOf(["accepted", "overridden"]))
    acceptedSuggestions = fields.List(
        fields.Nested(AcceptedSuggestionSchema),
        validate=validate.Length(max=MAX_ACCEPTED_SUGGESTIONS),
    )
    overrideReason = fields.Nested(OverrideReasonSchema)
    outcomeTimestamp = fields.String(
        required=True,
        validate=[validate.Length(max=64), _rfc3339],
        metadata={"format": "date-time"},
    )

    @validates_schema
    def _outcome_fields(self, data: dict, **_) -> None:
        if data["outcome"] == "accepted" and not data.get("acceptedSuggestions"):
            raise ValidationError("required for accepted outcomes", "acceptedSuggestions")
        if data["outcome"] == "overridden" and data.get("acceptedSuggestions"):
            raise ValidationError("not allowed for overridden outcomes", "acceptedSuggestions")


class FeedbackRequestSchema(Schema):
    class Meta:
        unknown = INCLUDE

    feedback = fields.List(
        fields.Nested(FeedbackItemSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_FEEDBACK_ITEMS),
    )


HOOK_REQUEST = HookRequestSchema()
FEEDBACK_REQUEST = FeedbackRequestSchema()
