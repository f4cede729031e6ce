"""Specs for compile-time work: constant folding, memoising row-invariant subtrees."""

from __future__ import annotations

import pytest

from service.elm import ElmEngine
from service.elm.compiler import is_constant

from .conftest import engine_for

LIB = """
library CompileSpec version '1.0'
parameter "Limit" Integer default 2
context Unfiltered
define "Folded": (2 + 3) * 4
define "FoldedString": Upper('a' + 'b')
define "UsesParameter": "Limit" + 1
define "UsesNow": Now()
define "Invalid": singleton from { 1, 2 }
define function "Bound"(x Integer): x + "Limit"
define "Rows": ({ 1, 2, 3 }) X where X < "Bound"(0) + (Count({ 1, 2 }) - 2) return X
"""


@pytest.fixture(scope="module")
def engine(translate) -> ElmEngine:
    return engine_for(translate(LIB))


def body(engine: ElmEngine, name: str):
    return engine.library("CompileSpec").expressions[name].body


def test_pure_literal_subtrees_are_folded_into_constants(engine: ElmEngine) -> None:
    assert is_constant(body(engine, "Folded"))
    assert is_constant(body(engine, "FoldedString"))
    assert engine.evaluate("CompileSpec", ["Folded", "FoldedString"]) == {
        "Folded": 20,
        "FoldedString": "AB",
    }


def test_anything_reading_evaluation_state_is_not_folded(engine: ElmEngine) -> None:
    assert not is_constant(body(engine, "UsesParameter"))
    assert not is_constant(body(engine, "UsesNow"))
    assert engine.evaluate("CompileSpec", ["UsesParameter"], parameters={"Limit": 5}) == {
        "UsesParameter": 6
    }


def test_subtrees_that_raise_are_left_to_fail_at_run_time(engine: ElmEngine) -> None:
    assert not is_constant(body(engine, "Invalid"))


def test_row_invariant_subtrees_are_evaluated_once_per_evaluation(engine: ElmEngine) -> None:
    calls = []
    bound = engine.library("CompileSpec").functions["Bound"][0]
    original = bound.body
    bound.body = lambda ctx: calls.append(1) or original(ctx)
    try:
        got = engine.evaluate("CompileSpec", ["Rows"])
    finally:
        bound.body = original
    assert got == {"Rows": [1]}
    assert calls == [1]  # not once per row of the query
