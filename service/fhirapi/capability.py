"""The CapabilityStatement of the /fhir face (built once per knowledge base).

Its canonical base, title and publisher come from the loaded content (`KnowledgeBase`
`canonical_base` and `publisher`), never from this module: another guideline, another statement.
"""

from __future__ import annotations

RESOURCE_TYPES = ("PlanDefinition", "ActivityDefinition", "Library", "ValueSet", "CodeSystem")
SEARCH_PARAMS = (
    ("_id", "token", "http://hl7.org/fhir/SearchParameter/Resource-id", "Logical id"),
    ("url", "uri", "http://hl7.org/fhir/SearchParameter/conformance-url", "Canonical URL"),
    ("version", "token", "http://hl7.org/fhir/SearchParameter/conformance-version", "Version"),
    ("name", "string", "http://hl7.org/fhir/SearchParameter/conformance-name", "Computable name"),
    ("title", "string", "http://hl7.org/fhir/SearchParameter/conformance-title", "Title"),
    ("status", "token", "http://hl7.org/fhir/SearchParameter/conformance-status", "Status"),
)
OPERATIONS = {
    "PlanDefinition": [
        ("apply", "http://hl7.org/fhir/OperationDefinition/PlanDefinition-apply"),
        (
            "data-requirements",
            "http://hl7.org/fhir/OperationDefinition/PlanDefinition-data-requirements",
        ),
    ],
    "Library": [
        ("data-requirements", "http://hl7.org/fhir/OperationDefinition/Library-data-requirements")
    ],
    "ActivityDefinition": [
        ("apply", "http://hl7.org/fhir/OperationDefinition/ActivityDefinition-apply")
    ],
    "ValueSet": [("expand", "http://hl7.org/fhir/OperationDefinition/ValueSet-expand")],
}


def _security(apply_authenticated: bool) -> dict:
    if apply_authenticated:
        text = (
            "$apply (PlanDefinition and ActivityDefinition) receives patient data and requires "
            "Authorization: Bearer <JWT> signed by a trusted client (ES384 or RS384), as for "
            "CDS Hooks 2.0: aud = the exact URL invoked, iss trusted, exp/iat within 5 minutes, "
            "jti not replayed. Failures are answered 401. Reads, searches, $expand, "
            "$data-requirements and metadata carry no patient data and are public."
        )
    else:
        text = (
            "Client authentication is disabled on this instance (development mode): $apply "
            "accepts requests without a token. Reads, searches and metadata are public."
        )
    return {"cors": True, "description": text}


def capability_statement(
    software_version: str,
    date: str,
    *,
    apply_authenticated: bool = False,
    base: str | None = None,
    publisher: str | None = None,
) -> dict:
    """`base`: the content's canonical base (the statement's `url` is `{base}/CapabilityStatement/
    dilation-cds`; none without it); `publisher`: who publishes the loaded guidelines."""
    resources = []
    for rtype in RESOURCE_TYPES:
        entry: dict = {
            "type": rtype,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "versioning": "no-version",
            "readHistory": False,
            "updateCreate": False,
            "searchParam": [
                {"name": n, "definition": d, "type": t, "documentation": doc}
                for n, t, d, doc in SEARCH_PARAMS
            ],
        }
        ops = OPERATIONS.get(rtype)
        if ops:
            entry["operation"] = [{"name": n, "definition": d} for n, d in ops]
        resources.append(entry)
    statement = {
        "resourceType": "CapabilityStatement",
        "id": "dilation-cds",
        "url": f"{base}/CapabilityStatement/dilation-cds" if base else None,
        "name": "DilationCdsFhirFace",
        "title": f"{publisher or 'Clinical guideline'} service: FHIR knowledge and $apply face",
        "status": "active",
        "date": date,
        "publisher": publisher,
        "kind": "instance",
        "software": {"name": "anal-dilation-cds", "version": software_version},
        "implementation": {"description": "Knowledge artifacts (read-only) and $apply"},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "security": _security(apply_authenticated),
                "documentation": "Read-only knowledge artifacts; $apply evaluates the guideline "
                "against the patient data supplied in the request (the service stores none).",
                "resource": resources,
            }
        ],
    }
    return {k: v for k, v in statement.items() if v is not None}
