"""Deployment CQL parameter values (service.knowledge.parameters) on the fixture content: they are
checked against the declarations and move the data requirements' look-back windows."""

from __future__ import annotations

import pytest

from service.config import ConfigError
from service.knowledge.parameters import resolve_parameters
from tests.apply.fixture_kb import fixture_kb

UCUM = "http://unitsofmeasure.org"


def observation_windows(kb) -> list[int]:
    pd = kb.resolve("PlanDefinition/demo-dilation")
    return sorted(
        df["valueDuration"]["value"]
        for req in kb.data_requirements(pd)
        if req["type"] == "Observation"
        for df in req.get("dateFilter", [])
    )


def deployed(parameter: list[dict]):
    kb = fixture_kb()
    values = resolve_parameters(kb, {"resourceType": "Parameters", "parameter": parameter})
    return kb.with_parameters(values)


def test_look_backs_set_by_integer_and_quantity_parameters_follow_the_deployment():
    assert observation_windows(fixture_kb()) == [14, 21, 30]  # literal, Integer and Quantity
    kb = deployed(
        [
            {"name": "Anal Pain Lookback Days", "valueInteger": 40},
            {"name": "Pain Lookback", "valueDuration": {"value": 90, "system": UCUM, "code": "d"}},
        ]
    )
    assert observation_windows(kb) == [14, 40, 90]
    assert observation_windows(fixture_kb()) == [14, 21, 30]  # the loaded content is unchanged


def test_a_qualified_name_moves_only_its_library():
    kb = deployed([{"name": "DemoDilation.Anal Pain Lookback Days", "valueInteger": 35}])
    assert observation_windows(kb) == [14, 30, 35]


def test_the_effective_values_are_the_deployed_ones_over_the_defaults():
    kb = deployed([{"name": "Pain Threshold", "valueInteger": 8}])
    values = kb.parameter_values(kb.resolve("PlanDefinition/demo-dilation"))
    assert values["Pain Threshold"] == 8
    assert values["Anal Pain Lookback Days"] == 21
    assert str(values["Pain Lookback"].value) == "30" and values["Pain Lookback"].unit == "days"


def test_a_quantity_parameter_given_a_number_is_refused():
    with pytest.raises(ConfigError, match=r"'Pain Lookback' is declared Quantity .* Integer"):
        deployed([{"name": "Pain Lookback", "valueInteger": 30}])
