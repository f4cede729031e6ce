"""Specs for loading ELM libraries: definitions, parameters, functions, includes, errors."""

from __future__ import annotations

from decimal import Decimal

import pytest

from service.elm import ElmEngine, ElmLoadError, ElmRuntimeError

from .conftest import engine_for

COMMON = """
library Common version '1.0'
parameter "Threshold" Integer default 10
define "Ten": 10
define function "Double"(x Integer): x * 2
define function "Double"(x Decimal): x * 2.0
define fluent function "Plus1"(x Integer): x + 1
define "AboveThreshold": "Ten" > "Threshold"
"""

MAIN = """
library Main version '1.0'
include Common version '1.0' called C
parameter "P" Integer default 3
parameter "NoDefault" String
define "A": 1 + "P"
define "UsesInclude": C."Ten" + C.Double(2)
define "Overloads": C.Double(1.5)
define "Fluent": 4.Plus1()
define "IncludedParam": C."AboveThreshold"
define "Missing": "NoDefault"
define "Fails": singleton from { 1, 2 }
define function Square(n Integer): n * n
define function SumSquares(a Integer, b Integer): Square(a) + Square(b)
define "Nested": SumSquares(3, 4)
"""


@pytest.fixture(scope="module")
def engine(translate) -> ElmEngine:
    return engine_for(translate(COMMON, MAIN))


def test_library_names_and_definitions_are_listed(engine: ElmEngine) -> None:
    assert engine.library_names == ["Common", "Main"]
    assert engine.definitions("Main")[:3] == ["A", "UsesInclude", "Overloads"]


def test_parameter_defaults_apply_and_overrides_win(engine: ElmEngine) -> None:
    assert engine.parameter_defaults("Main") == {"P": 3, "NoDefault": None}
    assert engine.evaluate("Main", ["A"]) == {"A": 4}
    assert engine.evaluate("Main", ["A"], parameters={"P": 41}) == {"A": 42}
    assert engine.evaluate("Main", ["Missing"]) == {"Missing": None}


def test_included_library_parameters_can_be_overridden_by_qualified_name(
    engine: ElmEngine,
) -> None:
    assert engine.evaluate("Main", ["IncludedParam"]) == {"IncludedParam": False}
    got = engine.evaluate("Main", ["IncludedParam"], parameters={"Common.Threshold": 5})
    assert got == {"IncludedParam": True}


def test_a_bare_parameter_name_reaches_the_included_library_that_declares_it(
    engine: ElmEngine,
) -> None:
    # A deployment threshold set by name governs every library declaring it, as in cql-execution.
    got = engine.evaluate("Main", ["IncludedParam"], parameters={"Threshold": 5})
    assert got == {"IncludedParam": True}


def test_included_definitions_functions_and_overloads_resolve(engine: ElmEngine) -> None:
    got = engine.evaluate("Main", ["UsesInclude", "Overloads", "Fluent", "Nested"])
    assert got == {"UsesInclude": 14, "Overloads": Decimal("3.0"), "Fluent": 5, "Nested": 25}


def test_runtime_errors_name_the_failing_definition(engine: ElmEngine) -> None:
    with pytest.raises(ElmRuntimeError) as info:
        engine.evaluate("Main", ["Fails"])
    assert info.value.library == "Main" and info.value.definition == "Fails"


def test_each_definition_is_evaluated_once_per_evaluation(engine: ElmEngine) -> None:
    lib = engine.library("Common")
    calls = []
    ten = lib.expressions["Ten"]
    original = ten.body
    ten.body = lambda ctx: calls.append(1) or original(ctx)
    try:
        engine.evaluate("Common", ["Ten", "AboveThreshold"])
    finally:
        ten.body = original
    assert calls == [1]


def test_unknown_node_types_fail_at_load_time_naming_the_node() -> None:
    elm = {
        "library": {
            "identifier": {"id": "Bad"},
            "statements": {
                "def": [{"name": "X", "context": "Patient", "expression": {"type": "Frobnicate"}}]
            },
        }
    }
    with pytest.raises(ElmLoadError, match="Frobnicate"):
        ElmEngine.from_libraries([elm])


def test_missing_include_fails_at_load_time(translate) -> None:
    (main,) = [e for e in translate(COMMON, MAIN) if e["library"]["identifier"]["id"] == "Main"]
    with pytest.raises(ElmLoadError, match="Common"):
        ElmEngine.from_libraries([main])


def test_unknown_definition_requested_is_a_runtime_error(engine: ElmEngine) -> None:
    with pytest.raises(ElmRuntimeError, match="Nope"):
        engine.evaluate("Main", ["Nope"])


def test_an_include_of_another_version_fails_at_load_time(translate) -> None:
    common, main = translate(COMMON, MAIN)
    common["library"]["identifier"]["version"] = "2.0"
    with pytest.raises(ElmLoadError, match=r"version '1\.0' is not loaded"):
        ElmEngine.from_libraries([common, main])


def _external_library() -> dict:
    fn = {
        "type": "FunctionDef",
        "name": "Shout",
        "external": True,
        "operand": [
            {
                "name": "s",
                "operandTypeSpecifier": {
                    "type": "NamedTypeSpecifier",
                    "name": "{urn:hl7-org:elm-types:r1}String",
                },
            }
        ],
    }
    call = {
        "type": "FunctionRef",
        "name": "Shout",
        "operand": [
            {
                "type": "Literal",
                "valueType": "{urn:hl7-org:elm-types:r1}String",
                "value": "hi",
                "resultTypeName": "{urn:hl7-org:elm-types:r1}String",
            }
        ],
    }
    return {
        "library": {
            "identifier": {"id": "Ext"},
            "statements": {"def": [fn, {"name": "Loud", "context": "Patient", "expression": call}]},
        }
    }


def test_external_functions_are_python_callables_registered_by_qualified_name() -> None:
    engine = ElmEngine.from_libraries(
        [_external_library()], external_functions={"Ext.Shout": lambda s: s.upper() + "!"}
    )
    assert engine.evaluate("Ext") == {"Loud": "HI!"}


def test_an_external_function_without_implementation_fails_at_load_time() -> None:
    with pytest.raises(ElmLoadError, match=r"Ext\.Shout"):
        ElmEngine.from_libraries([_external_library()])
