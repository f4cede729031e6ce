"""A hospital sets its own thresholds (CQL parameters) for its EHR integration: CDS_CQL_PARAMETERS
(inline) or CDS_CQL_PARAMETERS_FILE, a FHIR Parameters resource checked against the content at
start-up, applied to every hook call, to the prefetch look-backs and as the base of $apply."""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from datetime import date, timedelta

import pytest
import requests

from service.app import create_app
from service.apply import load_knowledge
from service.cdshooks.cards import stable_uuid
from service.config import ConfigError, Settings
from service.knowledge import KnowledgeBase
from tests.cdshooks.conftest import PUBLIC_BASE
from tests.scenarios.loader import load_scenarios
from tests.support.cds_spec import assert_conforms
from tests.support.cql_parameters import parameters_resource
from tests.support.live import LiveServer

RECOMMENDATIONS = "anal-dilation-recommendations"
ORDER_SAFETY = "anal-dilation-order-safety"
PAIN_CARD = "r3-pain"  # "Severe pain": escalates at a pain score >= "Severe Pain Score" (7)


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge(content_dir=Settings().content_dir, cql_dir=Settings().cql_dir)


@pytest.fixture
def deploy(settings, kb):
    """`deploy({"Severe Pain Score": 9})` → an app over the bundled content deployed with those
    CQL parameter values (a Parameters resource, as an operator writes it)."""

    def build(values: dict | None = None, **overrides):
        resource = parameters_resource(values) if values is not None else None
        s = dataclasses.replace(settings, cql_parameters=resource, **overrides)
        return create_app(s, knowledge=kb)

    return build


@pytest.fixture(scope="module")
def pain_8_patient():
    """A home program patient whose latest pain score is 8/10 (the near-miss scenario's record)."""
    return next(
        s for s in load_scenarios() if s.slug == "r03-near-miss-pain-below-a-raised-threshold"
    )


def cards_over_http(app, ehr, scenario) -> list[dict]:
    """Over real HTTP; the tokens name the public base URL (aud), whatever Host is sent."""
    with LiveServer(app) as server:
        url = f"{server.url}/cds-services"
        token = ehr.token(PUBLIC_BASE + "/cds-services")
        services = requests.get(
            url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        ).json()["services"]
        svc = next(s for s in services if s["id"] == RECOMMENDATIONS)
        record = [e["resource"] for e in scenario.bundle["entry"]]
        prefetch = {
            key: (
                {
                    "resourceType": "Bundle",
                    "type": "searchset",
                    "entry": [
                        {"resource": r} for r in record if r["resourceType"] == t.split("?")[0]
                    ],
                }
                if "?" in t
                else next(r for r in record if r["resourceType"] == "Patient")
            )
            for key, t in svc["prefetch"].items()
        }
        body = {
            "hook": "patient-view",
            "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/clinician-1", "patientId": scenario.patient_id},
            "prefetch": prefetch,
        }
        path = f"/cds-services/{RECOMMENDATIONS}"
        token = ehr.token(PUBLIC_BASE + path)
        resp = requests.post(
            server.url + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        assert resp.status_code == 200, resp.text
        assert_conforms(f"/cds-services/{RECOMMENDATIONS}", "POST", 200, resp.json())
        return resp.json()["cards"]


def has_pain_card(cards: list[dict], scenario) -> bool:
    wanted = stable_uuid("card", RECOMMENDATIONS, PAIN_CARD, scenario.patient_id)
    return any(c["uuid"] == wanted for c in cards)


# -- the hook call ------------------------------------------------------------------------------
def test_a_raised_threshold_changes_the_card_outcome_over_http(deploy, ehr, pain_8_patient):
    assert has_pain_card(cards_over_http(deploy(), ehr, pain_8_patient), pain_8_patient)
    raised = deploy({"Severe Pain Score": 9})
    assert not has_pain_card(cards_over_http(raised, ehr, pain_8_patient), pain_8_patient)


def test_a_threshold_for_one_library_is_set_by_its_qualified_name(deploy, ehr, pain_8_patient):
    app = deploy({"AnalDilationRecommendations.Severe Pain Score": 9})
    assert not has_pain_card(cards_over_http(app, ehr, pain_8_patient), pain_8_patient)


# -- start-up checks ----------------------------------------------------------------------------
def test_an_unknown_parameter_name_stops_start_up(deploy):
    with pytest.raises(ConfigError, match=r"'Severe Pain Scor' is not declared by any loaded"):
        deploy({"Severe Pain Scor": 9})


def test_a_qualified_name_the_library_does_not_declare_stops_start_up(deploy):
    with pytest.raises(ConfigError, match=r"not declared by library AnalDilationCommon"):
        deploy({"AnalDilationCommon.Severe Pain Score": 9})


@pytest.mark.parametrize(
    ("parameter", "message"),
    [
        ({"name": "Severe Pain Score", "valueString": "9"}, r"declared Integer .* String"),
        ({"name": "Severe Pain Score", "valueDecimal": 8.5}, r"declared Integer .* Decimal"),
        (
            {"name": "Home Eligible Stenosis Severities", "valueInteger": 1},
            r"declared List<String> .* Integer",
        ),
        ({"name": "Severe Pain Score", "valueInteger": "9"}, r"valueInteger must be an integer"),
        ({"name": "Severe Pain Score"}, r"needs exactly one value\[x\]"),
    ],
)
def test_a_value_of_the_wrong_type_stops_start_up(settings, kb, parameter, message):
    resource = {"resourceType": "Parameters", "parameter": [parameter]}
    with pytest.raises(ConfigError, match=message):
        create_app(dataclasses.replace(settings, cql_parameters=resource), knowledge=kb)


def test_a_parameter_the_service_sets_per_request_cannot_be_deployed(deploy):
    with pytest.raises(ConfigError, match=r"'Selections' cannot be set by a deployment"):
        deploy({"Selections": ["ServiceRequest/1"]})


def test_a_list_parameter_takes_one_occurrence_per_element(deploy, ehr):
    app = deploy({"Home Eligible Stenosis Severities": ["stenosis-mild", "stenosis-moderate"]})
    values = parameters_in_discovery(app, RECOMMENDATIONS, ehr)
    assert values["Home Eligible Stenosis Severities"] == ["stenosis-mild", "stenosis-moderate"]


def test_the_setting_is_read_inline_or_from_a_file_and_both_combine(tmp_path):
    path = tmp_path / "thresholds.json"
    path.write_text(json.dumps(parameters_resource({"Severe Pain Score": 9})))
    s = Settings.from_env(
        {
            "CDS_CQL_PARAMETERS_FILE": str(path),
            "CDS_CQL_PARAMETERS": json.dumps(parameters_resource({"Acceptable Pain Score": 2})),
        }
    )
    assert s.cql_parameters == {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "Acceptable Pain Score", "valueInteger": 2},
            {"name": "Severe Pain Score", "valueInteger": 9},
        ],
    }
    assert Settings.from_env({}).cql_parameters is None


NAMELESS = {"resourceType": "Parameters", "parameter": [{"valueInteger": 9}]}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CDS_CQL_PARAMETERS": "{not json"}, r"CDS_CQL_PARAMETERS is not JSON"),
        ({"CDS_CQL_PARAMETERS_FILE": "/nonexistent/p.json"}, r"CDS_CQL_PARAMETERS_FILE .* unread"),
        ({"CDS_CQL_PARAMETERS": '{"Severe Pain Score": 9}'}, r"must be a FHIR Parameters"),
        ({"CDS_CQL_PARAMETERS": json.dumps(NAMELESS)}, r"parameter\[0\] needs a name"),
    ],
)
def test_a_malformed_setting_stops_start_up(env, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_the_documented_example_file_starts_the_service_with_its_values(settings, kb, ehr):
    example = Settings().content_dir.parent / "deploy" / "examples" / "cql-parameters.json"
    s = Settings.from_env({"CDS_CQL_PARAMETERS_FILE": str(example)})
    app = create_app(dataclasses.replace(settings, cql_parameters=s.cql_parameters), knowledge=kb)
    values = parameters_in_discovery(app, RECOMMENDATIONS, ehr)
    assert values["Severe Pain Score"] == 8
    assert values["Incontinence Association Months"] == 24
    assert values["Home Eligible Stenosis Severities"] == ["stenosis-mild", "stenosis-moderate"]


def test_a_name_set_both_inline_and_in_the_file_stops_start_up(tmp_path):
    path = tmp_path / "thresholds.json"
    path.write_text(json.dumps(parameters_resource({"Severe Pain Score": 9})))
    env = {
        "CDS_CQL_PARAMETERS_FILE": str(path),
        "CDS_CQL_PARAMETERS": json.dumps(parameters_resource({"Severe Pain Score": 8})),
    }
    with pytest.raises(ConfigError, match=r"'Severe Pain Score' is set in both"):
        Settings.from_env(env)


def test_start_up_logs_the_values_in_effect(deploy, capsys):
    deploy({"Severe Pain Score": 9, "Incontinence Association Months": 24}, log_level="INFO")
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]
    logged = [e for e in events if e.get("event") == "CQL parameter overrides in effect"]
    assert logged and logged[-1]["parameters"] == {
        "Incontinence Association Months": 24,
        "Severe Pain Score": 9,
    }
    deploy(log_level="INFO")
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]
    logged = [e for e in events if e.get("event") == "CQL parameter overrides in effect"]
    assert logged and logged[-1]["parameters"] == {}  # every default


# -- data requirements and discovery ------------------------------------------------------------
def descriptors_of(app, plan_definition: str, ehr) -> list[dict]:
    """The discovery entries of one PlanDefinition's service (one per hook)."""
    client = app.test_client()
    auth = {"Authorization": f"Bearer {ehr.token('http://localhost/cds-services')}"}
    services = client.get("/cds-services", headers=auth).get_json()["services"]
    url = f"/PlanDefinition/{plan_definition}"
    found = [
        s for s in services if s["extension"]["dilation-cds-plandefinition"]["url"].endswith(url)
    ]
    assert found, f"no service of PlanDefinition/{plan_definition} in discovery"
    return found


def parameters_in_discovery(app, plan_definition: str, ehr) -> dict:
    """The parameter values shown by the service, the same for each of its hooks."""
    values = [
        s["extension"]["dilation-cds-parameters"] for s in descriptors_of(app, plan_definition, ehr)
    ]
    assert all(v == values[0] for v in values)
    return values[0]


def professional_dilation_lower_bound(app, plan_definition: str, ehr) -> date:
    """The prefetch date bound of the service, the same for each of its hooks."""
    bounds = set()
    for svc in descriptors_of(app, plan_definition, ehr):
        [template] = [t for t in svc["prefetch"].values() if "ValueSet/professional-dilation" in t]
        bounds.add(re.search(r"&date=ge(\d{4}-\d{2}-\d{2})", template).group(1))
    [bound] = bounds
    return date.fromisoformat(bound)


def test_a_widened_look_back_widens_the_prefetch_date_filter(deploy, ehr):
    default, widened = deploy(), deploy({"Clinical Start Lookback Months": 24})
    today = date.today()
    # 12 months by default (the bound is a little earlier than 12 calendar months: a superset).
    before = professional_dilation_lower_bound(default, ORDER_SAFETY, ehr)
    assert today - timedelta(days=400) < before <= today - timedelta(days=366)
    after = professional_dilation_lower_bound(widened, ORDER_SAFETY, ehr)
    assert today - timedelta(days=760) < after <= today - timedelta(days=731)
    # The recommendations service does not use that look-back: its prefetch is unchanged.
    assert professional_dilation_lower_bound(
        widened, RECOMMENDATIONS, ehr
    ) == professional_dilation_lower_bound(default, RECOMMENDATIONS, ehr)


def test_the_data_requirements_use_the_deployed_look_back(deploy, kb):
    app = deploy({"Incontinence Association Months": 18})
    pd = kb.resolve(f"PlanDefinition/{RECOMMENDATIONS}")
    resp = app.test_client().get(f"/fhir/PlanDefinition/{RECOMMENDATIONS}/$data-requirements")
    assert resp.status_code == 200
    durations = [
        df["valueDuration"]
        for req in resp.get_json()["dataRequirement"]
        for df in req.get("dateFilter", [])
    ]
    assert {"value": 18, "unit": "months", "system": "http://unitsofmeasure.org", "code": "mo"} in (
        durations
    )
    # The shared knowledge base (and so the content's Library resources) keep the defaults.
    assert kb.parameters == {}
    windows = [
        df["valueDuration"]["value"]
        for req in kb.data_requirements(pd)
        for df in req.get("dateFilter", [])
    ]
    assert windows == [12]


def test_discovery_shows_the_parameter_values_each_service_runs_with(deploy, ehr):
    values = parameters_in_discovery(deploy({"Severe Pain Score": 9}), RECOMMENDATIONS, ehr)
    assert values["Severe Pain Score"] == 9  # deployed
    assert values["Acceptable Pain Score"] == 3  # the content's default
    assert "Selections" not in values
    assert "Clinical Start Lookback Months" not in values  # order-safety logic only
    assert "Clinical Start Lookback Months" in parameters_in_discovery(deploy(), ORDER_SAFETY, ehr)


# -- $apply: request parameters win over the deployment's ---------------------------------------
def apply_actions(app, ehr, scenario, request_values: dict | None = None) -> set[str]:
    """PlanDefinition/$apply as an authenticated client (the FHIR face requires the JWT too)."""
    path = f"/fhir/PlanDefinition/{RECOMMENDATIONS}/$apply"
    parameter = [
        {"name": "subject", "valueString": f"Patient/{scenario.patient_id}"},
        {"name": "data", "resource": scenario.patient_data()},
    ]
    if request_values is not None:
        parameter.append({"name": "parameters", "resource": parameters_resource(request_values)})
    resp = app.test_client().post(
        path,
        data=json.dumps({"resourceType": "Parameters", "parameter": parameter}),
        content_type="application/fhir+json",
        headers={"Authorization": f"Bearer {ehr.token('http://localhost' + path)}"},
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    rg = next(r for r in resp.get_json()["contained"] if r["resourceType"] == "RequestGroup")
    return {a["id"] for a in rg.get("action", [])}


def test_apply_runs_with_the_deployed_values(deploy, ehr, pain_8_patient):
    assert PAIN_CARD in apply_actions(deploy(), ehr, pain_8_patient)
    assert PAIN_CARD not in apply_actions(deploy({"Severe Pain Score": 9}), ehr, pain_8_patient)


@pytest.mark.parametrize(
    "deployed", ["Severe Pain Score", "AnalDilationRecommendations.Severe Pain Score"]
)
def test_apply_request_parameters_win_over_the_deployed_ones(deploy, ehr, pain_8_patient, deployed):
    app = deploy({deployed: 9})
    assert PAIN_CARD in apply_actions(app, ehr, pain_8_patient, {"Severe Pain Score": 7})
    assert PAIN_CARD not in apply_actions(app, ehr, pain_8_patient, {"Acceptable Pain Score": 2})


def test_a_deployment_does_not_change_another_app_on_the_same_content(deploy, ehr):
    deploy({"Severe Pain Score": 9})
    plain = deploy()
    assert parameters_in_discovery(plain, RECOMMENDATIONS, ehr)["Severe Pain Score"] == 7
