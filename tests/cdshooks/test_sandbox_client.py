"""What the CDS Hooks Sandbox does, end to end (shared/docs/cds-hooks.md, "A real client")."""

from __future__ import annotations

import json
import uuid

from service.config import TrustedIssuer
from tests.cdshooks.conftest import SERVICE, pain, patient
from tests.support.cds_spec import assert_conforms
from tests.support.fhir_server import FhirTestServer
from tests.support.jwt_keys import TestClient

SANDBOX = "https://sandbox.cds-hooks.org"
JKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"


def test_a_sandbox_session_discovers_invokes_with_partial_prefetch_and_sends_feedback(
    make_app, tmp_path
):
    sandbox = TestClient(SANDBOX)
    jwks = tmp_path / "sandbox-jwks.json"
    jwks.write_text(json.dumps(sandbox.jwks(("es-1",))))
    with FhirTestServer([patient(), pain(9, "obs-ehr")]) as ehr:
        issuer = TrustedIssuer(iss=SANDBOX, jwks_file=str(jwks), fhir_servers=(ehr.base_url,))
        client = make_app(trusted_issuers=(issuer,), fhir_server_allowlist=()).test_client()

        def headers(path: str) -> dict:
            token = sandbox.token("http://localhost" + path, header={"jku": JKU})  # ES384, typ JWT
            return {"Authorization": f"Bearer {token}", "Origin": SANDBOX}

        # preflight, then discovery
        pre = client.options(
            "/cds-services",
            headers={
                "Origin": SANDBOX,
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        assert pre.status_code == 200 and pre.headers["Access-Control-Allow-Origin"] == "*"
        services = client.get("/cds-services", headers=headers("/cds-services")).get_json()[
            "services"
        ]
        assert services, "the Sandbox treats an empty list as a failure"

        # patient-view: no fhirAuthorization (open server), the keys it could not resolve omitted
        path = f"/cds-services/{SERVICE}"
        body = {
            "hookInstance": str(uuid.uuid4()),
            "hook": "patient-view",
            "fhirServer": ehr.base_url,
            "context": {"patientId": "p1", "userId": "Practitioner/COREPRACTITIONER1"},
            "prefetch": {"patient": patient()},
        }
        resp = client.post(path, json=body, headers=headers(path))
        assert resp.status_code == 200
        assert_conforms(path, "POST", 200, resp.get_json())
        (card,) = resp.get_json()["cards"]
        assert {r.path for r in ehr.requests} == {"/fhir/Condition", "/fhir/Observation"}
        assert all(r.authorization is None for r in ehr.requests)

        # accepting a suggestion, then dismissing with a reason without display
        fb = path + "/feedback"
        accepted = {
            "card": card["uuid"],
            "outcome": "accepted",
            "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}],
            "outcomeTimestamp": "2026-11-25T10:00:00.000Z",
        }
        reason = card["overrideReasons"][0]
        overridden = {
            "card": card["uuid"],
            "outcome": "overridden",
            "overrideReason": {"reason": {"code": reason["code"], "system": reason["system"]}},
            "outcomeTimestamp": "2026-11-25T10:01:00.000Z",
        }
        for item in (accepted, overridden):
            assert (
                client.post(fb, json={"feedback": [item]}, headers=headers(fb)).status_code == 200
            )
        rows = client.application.extensions["cds_store"].feedback(SERVICE)
        assert [r["outcome"] for r in rows] == ["accepted", "overridden"]
