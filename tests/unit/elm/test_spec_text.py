"""CQL 1.5 Reference sentences, each checked on translated CQL (beyond the conformance suite).

Every test quotes the sentence of the specification (cql.hl7.org, 09-b-cqlreference) it checks.
"""

from __future__ import annotations

import re

import pytest

from service.elm import ElmLoadError, Terminology

from .conftest import engine_for

VS = "http://example.org/ValueSet/bp"
SYS = "http://loinc.org"

SPEC = r"""
library SpecText version '1'
codesystem "LOINC": 'http://loinc.org'
valueset "BP": 'http://example.org/ValueSet/bp'
code "Systolic": '8480-6' from "LOINC"
code "Other": '0000-0' from "LOINC"
code "Diastolic": '8462-4' from "LOINC"
concept "BothBP": { "Systolic", "Diastolic" }
define "StartClosedNull": start of Interval[null as Integer, 5]
define "StartOpenNull": start of Interval(null as Integer, 5]
define "EndClosedNull": end of Interval[1, null as Integer]
define "ContainsClosedNull": Interval[null as Integer, 5] contains 3
define "ContainsOpenNull": Interval(null as Integer, 5] contains 3
define "ContainsOpenNullAbove": Interval(null as Integer, 5] contains 6
define "ContainsNullInterval": (null as Interval<Integer>) contains 3
define "ContainsNullPoint": Interval[1, 5] contains (null as Integer)
define "OverlapsNull": Interval[1, 5] overlaps (null as Interval<Integer>)
define "OverlapsClosedNull": Interval[null as Integer, 5] overlaps Interval[4, 10]
define "MeetsNull": Interval[1, 5] meets (null as Interval<Integer>)
define "IncludesNull": Interval[1, 5] includes (null as Interval<Integer>)
define "IncludesClosedNull": Interval[null as Integer, 10] includes Interval[1, 5]
define "WidthNull": width of (null as Interval<Integer>)
define "Width": width of Interval[3, 7]
define "EmptyProperlyIncludedInOne": {} properly included in {1}
define "EmptyProperlyIncludedInEmpty":
  ({} as List<Integer>) properly included in ({} as List<Integer>)
define "OneProperlyIncludesEmpty": {1} properly includes {}
define "EmptyIncludedInEmpty": ({} as List<Integer>) included in ({} as List<Integer>)
define "CodeInVS": "Systolic" in "BP"
define "OtherInVS": "Other" in "BP"
define "ConceptInVS": "BothBP" in "BP"
define "StringInVS": '8480-6' in "BP"
define "CodesInVS": { "Other", "Systolic" } in "BP"
define "NullCodeInVS": (null as Code) in "BP"
define "CodeInCS": "Systolic" in "LOINC"
define "CodeEquivConcept": "Systolic" ~ "BothBP"
define "OtherEquivConcept": "Other" ~ "BothBP"
define "Expanded": ExpandValueSet("BP")
"""


@pytest.fixture(scope="module")
def results(translate) -> dict:
    terminology = Terminology.from_resources(
        [
            {
                "resourceType": "ValueSet",
                "url": VS,
                "expansion": {"contains": [{"system": SYS, "code": "8480-6"}]},
            },
            {
                "resourceType": "CodeSystem",
                "url": SYS,
                "concept": [{"code": "8480-6"}, {"code": "8462-4"}],
            },
        ]
    )
    engine = engine_for(translate(SPEC), terminology=terminology)
    return engine.evaluate("SpecText")


def test_start_of_a_closed_null_low_boundary_is_the_minimum_value(results) -> None:
    # Start: "If the low boundary of the interval is closed and the low value of the interval is
    # not null, this operator returns the low value of the interval. Otherwise, the result is
    # the minimum value of the point type of the interval."
    assert results["StartClosedNull"] == -(2**31)
    # End: "... Otherwise, the result is the maximum value of the point type of the interval."
    assert results["EndClosedNull"] == 2**31 - 1


def test_start_of_an_open_null_low_boundary_is_null(results) -> None:
    # Start: "If the low boundary of the interval is open, this operator returns the successor
    # of the low value of the interval. Note that if the low value of the interval is null,
    # the result is null."
    assert results["StartOpenNull"] is None


def test_contains_with_null_boundaries(results) -> None:
    # Interval, null boundaries: a closed null boundary is unbounded, an open one is unknown.
    assert results["ContainsClosedNull"] is True
    assert results["ContainsOpenNull"] is None
    assert results["ContainsOpenNullAbove"] is False


def test_contains_with_null_arguments(results) -> None:
    # Contains: "If the first argument is null, the result is false. If the second argument is
    # null, the result is null."
    assert results["ContainsNullInterval"] is False
    assert results["ContainsNullPoint"] is None


def test_overlaps_meets_and_includes_with_a_null_argument_are_null(results) -> None:
    # Overlaps / Meets / Includes: "If either argument is null, the result is null."
    assert results["OverlapsNull"] is None
    assert results["MeetsNull"] is None
    assert results["IncludesNull"] is None


def test_closed_null_boundaries_take_part_as_the_minimum(results) -> None:
    assert results["OverlapsClosedNull"] is True
    assert results["IncludesClosedNull"] is True


def test_width(results) -> None:
    # Width: "The width operator returns the width of an interval. The result of this operator
    # is equivalent to invoking: (end of argument - start of argument)." ... "If the argument is
    # null, the result is null."
    assert results["Width"] == 4
    assert results["WidthNull"] is None


def test_proper_inclusion_of_lists_with_the_empty_list(results) -> None:
    # ProperlyIncludedIn (List): "returns true if every element of the first list is in the
    # second list and the second list is strictly larger than the first list."
    assert results["EmptyProperlyIncludedInOne"] is True
    assert results["EmptyProperlyIncludedInEmpty"] is False
    # ProperlyIncludes (List): "returns true if the first list contains every element of the
    # second list, and the first list is strictly larger than the second list."
    assert results["OneProperlyIncludesEmpty"] is True
    # IncludedIn (List): "returns true if every element in the first list is also an element
    # in the second list" (vacuously true for the empty list).
    assert results["EmptyIncludedInEmpty"] is True


def test_membership_in_a_value_set(results) -> None:
    # In (Valueset): "The in (Valueset) operators determine whether or not a given code, or any
    # of a list of codes, is in a particular valueset." ... "For the Concept overload, if any
    # code in the concept is in the value set, the result is true."
    assert results["CodeInVS"] is True
    assert results["OtherInVS"] is False
    assert results["ConceptInVS"] is True
    # "For the String overload, ... the string is in the value set if it matches a code in the
    # value set, regardless of the code system."
    assert results["StringInVS"] is True
    assert results["CodesInVS"] is True
    # "If the code argument is null, the result is false."
    assert results["NullCodeInVS"] is False


def test_membership_in_a_code_system(results) -> None:
    # In (Codesystem): "determine whether or not a given code, or any of a list of codes, is in
    # a particular codesystem."
    assert results["CodeInCS"] is True


def test_code_is_equivalent_to_a_concept_containing_it(results) -> None:
    # Equivalent: "For Concept values, equivalence is defined as a non-empty intersection of
    # the codes in each Concept." (a Code converts implicitly to a Concept)
    assert results["CodeEquivConcept"] is True
    assert results["OtherEquivConcept"] is False


def test_expand_value_set_returns_its_codes(results) -> None:
    # ExpandValueSet: "The ExpandValueSet function returns the current expansion for the given
    # value set."
    assert [(c.code, c.system) for c in results["Expanded"]] == [("8480-6", SYS)]


# -- Subsumes / SubsumedBy ------------------------------------------------------------------
# The engine implements the ELM `Subsumes` and `SubsumedBy` nodes (service/elm/ops/clinical.py,
# tested on hand-written ELM in test_terminology.py). CQL has no infix `subsumes` /
# `subsumed by` syntax (the pinned translator rejects it), and the pinned translator turns the
# function syntax `Subsumes(a, b)` into a library-less FunctionRef, not into those nodes: such
# a library is refused at load, naming the function and its location, never evaluated wrongly.

SUBSUMES = r"""
library SpecSubsumes version '1'
codesystem "CS": 'http://example.org/cs'
code "Parent": 'a' from "CS"
code "Child": 'x' from "CS"
define "ParentSubsumesChild": Subsumes("Parent", "Child")
define "ChildSubsumedByParent": SubsumedBy("Child", "Parent")
"""

CS = "http://example.org/cs"


def _hierarchy() -> Terminology:
    return Terminology.from_resources(
        [
            {
                "resourceType": "CodeSystem",
                "url": CS,
                "concept": [{"code": "a", "concept": [{"code": "x"}]}, {"code": "b"}],
            }
        ]
    )


def test_cql_subsumes_function_syntax_fails_to_load_naming_the_function(translate) -> None:
    # Subsumes: "The Subsumes operator returns true if the given codes are equivalent, or if
    # the first code is an ancestor of the second in a subsumption hierarchy, and false
    # otherwise." The translated `Subsumes(...)` is a FunctionRef the engine cannot bind:
    # a clear load error, not a silent wrong answer.
    (elm,) = translate(SUBSUMES)
    with pytest.raises(ElmLoadError) as err:
        engine_for([elm], terminology=_hierarchy())
    message = str(err.value)
    assert "Subsumes" in message or "SubsumedBy" in message
    assert "SpecSubsumes" in message
    assert re.search(r"at \d+:\d+-\d+:\d+", message), message


def _elm(*defs: tuple[str, dict]) -> dict:
    return {
        "library": {
            "identifier": {"id": "SpecSubsumesElm"},
            "codeSystems": {"def": [{"name": "CS", "id": CS}]},
            "statements": {"def": [{"name": n, "expression": e} for n, e in defs]},
        }
    }


def _code(c: str) -> dict:
    return {"type": "Code", "code": c, "system": {"name": "CS"}}


def _concept(*codes: str) -> dict:
    return {"type": "Concept", "code": [_code(c) for c in codes]}


NULL = {"type": "Null"}


@pytest.fixture(scope="module")
def subsumption() -> dict:
    elm = _elm(
        ("Equivalent", {"type": "Subsumes", "operand": [_code("a"), _code("a")]}),
        ("Ancestor", {"type": "Subsumes", "operand": [_code("a"), _code("x")]}),
        ("Descendant", {"type": "Subsumes", "operand": [_code("x"), _code("a")]}),
        ("Unrelated", {"type": "Subsumes", "operand": [_code("b"), _code("x")]}),
        ("ByAncestor", {"type": "SubsumedBy", "operand": [_code("x"), _code("a")]}),
        ("ByDescendant", {"type": "SubsumedBy", "operand": [_code("a"), _code("x")]}),
        ("ByEquivalent", {"type": "SubsumedBy", "operand": [_code("x"), _code("x")]}),
        ("ConceptAny", {"type": "Subsumes", "operand": [_concept("b", "a"), _concept("x")]}),
        ("ConceptNone", {"type": "Subsumes", "operand": [_concept("b"), _concept("x", "a")]}),
        ("NullFirst", {"type": "Subsumes", "operand": [NULL, _code("x")]}),
        ("NullSecond", {"type": "SubsumedBy", "operand": [_code("x"), NULL]}),
    )
    return engine_for([elm], terminology=_hierarchy()).evaluate("SpecSubsumesElm")


def test_subsumes_is_true_for_equivalent_codes_and_ancestors(subsumption) -> None:
    # Subsumes: "returns true if the given codes are equivalent, or if the first code is an
    # ancestor of the second in a subsumption hierarchy, and false otherwise."
    assert subsumption["Equivalent"] is True
    assert subsumption["Ancestor"] is True
    assert subsumption["Descendant"] is False
    assert subsumption["Unrelated"] is False


def test_subsumed_by_is_true_for_equivalent_codes_and_descendants(subsumption) -> None:
    # SubsumedBy: "returns true if the given codes are equivalent, or if the first code is a
    # descendant of the second in a subsumption hierarchy, and false otherwise."
    assert subsumption["ByAncestor"] is True
    assert subsumption["ByEquivalent"] is True
    assert subsumption["ByDescendant"] is False


def test_subsumes_on_concepts_is_any_code_of_the_first_over_any_of_the_second(
    subsumption,
) -> None:
    # Subsumes: "For the Concept overload, this operator returns true if any code in the first
    # concept subsumes any code in the second."
    assert subsumption["ConceptAny"] is True
    assert subsumption["ConceptNone"] is False


def test_subsumption_with_a_null_argument_is_null(subsumption) -> None:
    # Subsumes / SubsumedBy: "If either or both arguments are null, the result is null."
    assert subsumption["NullFirst"] is None
    assert subsumption["NullSecond"] is None
