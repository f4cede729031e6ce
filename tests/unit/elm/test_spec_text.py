"""CQL 1.5 Reference sentences, each checked on translated CQL (beyond the conformance suite).

Every test quotes the sentence of the specification (cql.hl7.org, 09-b-cqlreference) it checks.
"""

from __future__ import annotations

import pytest

from service.elm import Terminology

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
