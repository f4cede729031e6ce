"""How a result is compared with the expected output (CQL equality, then equivalence)."""

from __future__ import annotations

from decimal import Decimal

from service.elm.datatypes import Code, Long, Tuple
from service.elm.datatypes.uncertainty import Uncertainty
from tools.conformance.runner import matches, same_kinds


def test_null_result_matches_null_expectation_only():
    assert matches(None, None)
    assert not matches(None, 1)
    assert not matches(1, None)


def test_equal_values_match_and_unequal_do_not():
    assert matches(3, 3)
    assert not matches(4, 5)
    assert matches("abc", "abc")
    assert not matches("abc", "ABC")  # `=` is false, so equivalence is not consulted


def test_lists_holding_nulls_match_through_equivalence():
    assert matches([None, 1], [None, 1])
    assert not matches([None, 1], [None, 2])


def test_decimal_precision_does_not_matter_but_the_cql_type_does():
    assert matches(Decimal("1.0"), Decimal("1.00"))
    assert not matches(1, Decimal("1.0"))
    assert not matches(Long(1), 1)
    assert not matches(True, 1)
    assert not same_kinds([1, 2], [1, Decimal(2)])


def test_tuples_and_codes_compare_by_cql_semantics():
    assert matches(Tuple(a=1, b="x"), Tuple(a=1, b="x"))
    assert not matches(Tuple(a=1), Tuple(a=2))
    assert matches(Code("1", "s"), Code("1", "s"))


def test_an_uncertainty_matches_the_closed_interval_of_its_bounds():
    class Interval:  # the suite's notation for an uncertain result: Interval[low, high]
        def __init__(self, low, high, low_closed=True, high_closed=True):
            self.low, self.high = low, high
            self.low_closed, self.high_closed = low_closed, high_closed

    assert matches(Uncertainty(4, 5), Interval(4, 5))
    assert not matches(Uncertainty(4, 6), Interval(4, 5))
    assert not matches(Uncertainty(4, 5), Interval(4, 5, high_closed=False))
