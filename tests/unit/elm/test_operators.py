"""Specs for the general operator families, each checked on translated CQL."""

from __future__ import annotations

from decimal import Decimal

import pytest

from service.elm import ElmEngine, ElmRuntimeError
from service.elm.datatypes import Code, Long

from .conftest import engine_for

SPEC = r"""
library OperatorSpec version '1'
codesystem "LOINC": 'http://loinc.org'
define "IntOverflow": 2147483647 + 1
define "LongArith": 9223372036854775807L - 1L
define "LongOverflow": 9223372036854775807L + 1L
define "DecimalDivide": 10 / 4
define "DivideByZero": 1 / 0
define "DecimalRounded": 1.0 / 3.0
define "TruncDiv": -7 div 2
define "Mod": -7 mod 2
define "RoundHalf": Round(-2.5)
define "RoundPlaces": Round(3.14159, 2)
define "PowerNeg": Power(2, -2)
define "LnOf": Round(Ln(1000), 8)
define "Succ": successor of 1.0
define "Pred": predecessor of 1L
define "ThreeValued": { true and null, false and null, true or null, null implies true,
  true xor null }
define "Coalesce": Coalesce(null, null, 3)
define "Nulls": { IsNull(null), IsTrue(null), IsFalse(false) }
define "CaseCmp": case 2 when 1 then 'one' when 2 then 'two' else 'many' end
define "CaseBool": case when 1 > 2 then 'a' else 'b' end
define "IfNull": if null then 1 else 2
define "Strings": { Upper('ab'), Lower('AB'), 'a' + 'b', Combine({'a', null, 'c'}, '-'),
  Substring('hello', 1, 3), ReplaceMatches('a.b.c', '\\.', '-'), Split('a,b', ',')[1] }
define "StringTests": { StartsWith('abc', 'ab'), EndsWith('abc', 'bc'), Matches('abc', 'b'),
  Matches('abc', 'a.c'), PositionOf('b', 'abc') = 1, LastPositionOf('a', 'aba') = 2 }
define "ConcatNull": Concatenate('a', null)
define "Lists": { First({3, 1, 2}), Last({3, 1, 2}), IndexOf({'a', 'b'}, 'b') }
define "Distinct": distinct { 1, 1, 2, null, null }
define "Flatten": flatten { {1, 2}, {3} }
define "Sorted": ({ 3, 1, 2 }) X sort desc
define "SortedBy": ({ Tuple { a: 2 }, Tuple { a: 1 } }) T sort by a
define "Singleton": singleton from { 5 }
define "SingletonFails": singleton from { 5, 6 }
define "ExistsNulls": exists { null }
define "Agg": { Count({1, null, 2}), Sum({1, 2, 3}), Min({3, 1}), Max({'a', 'c'}) }
define "AggDec": { Avg({1.0, 2.0}), Median({1, 3, 2, 4}), Variance({1.0, 2.0, 3.0, 4.0, 5.0}) }
define "AllAny": { AllTrue({}), AnyTrue({}), AllTrue({true, null}), AnyTrue({null, true}) }
define "Query": from ({1, 2}) A, ({10, 20}) B where A + B > 12 return A + B
define "QueryLet": ({1, 2, 3}) X let Y: X * 10 where Y > 10 return Y
define "QueryWith": ({1, 2, 3}) X with ({2, 3}) Y such that X = Y
define "QueryWithout": ({1, 2, 3}) X without ({2, 3}) Y such that X = Y
define "QueryAll": ({1, 1, 2}) X return all X
define "QueryDistinct": ({1, 1, 2}) X return X
define "QueryAggregate": ({1, 2, 3, 4}) X aggregate R starting 1: R * X
define "SingletonQuery": (5) X where X > 1 return X + 1
define "Conversions": { ToInteger('12'), ToInteger('x'), ToString(1.50), ToBoolean('yes'),
  ToLong('5') }
define "ConvertsTo": { ConvertsToInteger('1'), ConvertsToDecimal('x'), ConvertsToBoolean('T') }
define "Casts": { 1 is Integer, 1.0 is Decimal, (null as Integer) is Integer }
define "Mixed": { 1, 'a' }
define "StrictCastFails": cast "Mixed"[1] as Integer
define "Codes": Code '8480-6' from "LOINC" display 'Systolic'
define "CodeEquivalent": Code '1' from "LOINC" display 'x' ~ Code '1' from "LOINC" display 'y'
define "TupleProp": Tuple { a: 1, b: 'x' }.b
define "ErrorMessage": Message(1, true, 'E1', 'Error', 'boom')
define "WarningMessage": Message(1, true, 'W1', 'Warning', 'careful')
"""


@pytest.fixture(scope="module")
def engine(translate) -> ElmEngine:
    return engine_for(translate(SPEC))


@pytest.fixture(scope="module")
def results(engine: ElmEngine) -> dict:
    names = [
        n
        for n in engine.definitions("OperatorSpec")
        if n not in ("SingletonFails", "StrictCastFails", "ErrorMessage")
    ]
    return engine.evaluate("OperatorSpec", names)


def test_integer_and_long_overflow_give_null_not_wraparound(results: dict) -> None:
    assert results["IntOverflow"] is None
    assert results["LongArith"] == 9223372036854775806 and isinstance(results["LongArith"], Long)
    assert results["LongOverflow"] is None


def test_decimal_division_is_exact_to_eight_places_and_null_on_zero(results: dict) -> None:
    assert results["DecimalDivide"] == Decimal("2.5")
    assert results["DivideByZero"] is None
    assert results["DecimalRounded"] == Decimal("0.33333333")


def test_integer_division_and_modulo_truncate_towards_zero(results: dict) -> None:
    assert results["TruncDiv"] == -3
    assert results["Mod"] == -1


def test_rounding_power_logs_and_successors(results: dict) -> None:
    assert results["RoundHalf"] == Decimal("-3")
    assert results["RoundPlaces"] == Decimal("3.14")
    assert results["PowerNeg"] == Decimal("0.25")
    assert results["LnOf"] == Decimal("6.90775528")
    assert results["Succ"] == Decimal("1.00000001")
    assert results["Pred"] == 0 and isinstance(results["Pred"], Long)


def test_three_valued_logic(results: dict) -> None:
    assert results["ThreeValued"] == [None, False, True, True, None]


def test_nullological_and_conditional_operators(results: dict) -> None:
    assert results["Coalesce"] == 3
    assert results["Nulls"] == [True, False, True]
    assert results["CaseCmp"] == "two"
    assert results["CaseBool"] == "b"
    assert results["IfNull"] == 2


def test_string_operators(results: dict) -> None:
    assert results["Strings"] == ["AB", "ab", "ab", "a-c", "ell", "a-b-c", "b"]
    assert results["StringTests"] == [True, True, False, True, True, True]
    assert results["ConcatNull"] is None


def test_list_operators(results: dict) -> None:
    assert results["Lists"] == [3, 2, 1]
    assert results["Distinct"] == [1, 2, None]
    assert results["Flatten"] == [1, 2, 3]
    assert results["Sorted"] == [3, 2, 1]
    assert [t["a"] for t in results["SortedBy"]] == [1, 2]
    assert results["Singleton"] == 5
    assert results["ExistsNulls"] is False


def test_aggregates_ignore_nulls(results: dict) -> None:
    assert results["Agg"] == [2, 6, 1, "c"]
    assert results["AggDec"] == [Decimal("1.5"), Decimal("2.5"), Decimal("2.5")]
    assert results["AllAny"] == [True, False, True, True]


def test_queries(results: dict) -> None:
    assert results["Query"] == [21, 22]
    assert results["QueryLet"] == [20, 30]
    assert results["QueryWith"] == [2, 3]
    assert results["QueryWithout"] == [1]
    assert results["QueryAll"] == [1, 1, 2]
    assert results["QueryDistinct"] == [1, 2]
    assert results["QueryAggregate"] == 24
    assert results["SingletonQuery"] == 6


def test_type_conversions_and_casts(results: dict) -> None:
    assert results["Conversions"] == [12, None, "1.50", True, 5]
    assert results["ConvertsTo"] == [True, False, True]
    assert results["Casts"] == [True, True, False]


def test_clinical_values(results: dict) -> None:
    assert results["Codes"] == Code("8480-6", "http://loinc.org", None, "Systolic")
    assert results["CodeEquivalent"] is True
    assert results["TupleProp"] == "x"


def test_messages_warn_without_failing(results: dict) -> None:
    assert results["WarningMessage"] == 1


@pytest.mark.parametrize("name", ["SingletonFails", "StrictCastFails", "ErrorMessage"])
def test_cql_errors_raise_runtime_errors_naming_the_definition(
    engine: ElmEngine, name: str
) -> None:
    with pytest.raises(ElmRuntimeError) as info:
        engine.evaluate("OperatorSpec", [name])
    assert info.value.definition == name
