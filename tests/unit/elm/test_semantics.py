"""CQL equality, equivalence and ordering of the built-in kinds (CQL 1.5, Comparison Operators)."""

from decimal import Decimal

import pytest

from service.elm.semantics import compare, decimal_equivalent, equal, equivalent


class TestEqual:
    def test_null_on_either_side_gives_null(self):
        assert equal(None, 1) is None
        assert equal(True, None) is None
        assert equal(None, None) is None

    def test_booleans_are_not_integers(self):
        assert equal(True, 1) is False
        assert equal(True, True) is True

    def test_integers_and_decimals_mix(self):
        assert equal(1, Decimal("1.0")) is True
        assert equal(Decimal("1.0"), Decimal("1.00")) is True
        assert equal(Decimal("1.0"), 2) is False

    def test_strings_are_case_sensitive(self):
        assert equal("a", "a") is True
        assert equal("a", "A") is False
        assert equal("1", 1) is False

    def test_lists_compare_elementwise_in_order(self):
        assert equal([1, 2, 3], [1, 2, 3]) is True
        assert equal([1, 2, 3], [3, 2, 1]) is False
        assert equal([1, 2, 3], [1, 2]) is False
        assert equal([], []) is True

    def test_nulls_at_the_same_list_position_are_equal(self):
        assert equal([None], [None]) is True

    def test_first_unequal_element_decides(self):
        assert equal([1, None], [1, 2]) is None
        assert equal([1, None], [2, 2]) is False
        assert equal([None, 1], [2, 2]) is None

    def test_tuples_compare_by_element_name_in_order(self):
        assert equal({"Id": 1, "Name": "John"}, {"Id": 1, "Name": "John"}) is True
        assert equal({"Id": 1, "Name": "John"}, {"Id": 2, "Name": None}) is False
        assert equal({"Id": None, "Name": "John"}, {"Id": 1, "Name": "James"}) is None
        assert equal({"Id": None, "Name": "John"}, {"Id": None, "Name": "John"}) is True
        assert equal({"Id": 1, "Name": "John"}, {"Id": 1, "Name": None}) is None


class TestEquivalent:
    def test_null_is_equivalent_only_to_null(self):
        assert equivalent(None, None) is True
        assert equivalent(None, 1) is False
        assert equivalent(True, None) is False

    def test_strings_ignore_case_and_whitespace_kind(self):
        assert equivalent("Abel", "abel") is True
        assert equivalent("a\tb", "A b") is True
        assert equivalent("ab", "a b") is False

    def test_decimals_use_precision_of_less_precise_operand(self):
        assert equivalent(Decimal("1.001"), Decimal("1.000")) is True
        assert equivalent(Decimal("1.0"), Decimal("1.00")) is True
        assert equivalent(Decimal("1.0"), 2) is False
        assert equivalent(Decimal("1.25"), Decimal("1.3")) is True
        assert decimal_equivalent(Decimal("1.24"), Decimal("1.3")) is False

    def test_lists_need_same_length_and_equivalent_elements(self):
        assert equivalent(["a", "b"], ["A", "B"]) is True
        assert equivalent(["a", "b", "c"], ["a", "b"]) is False
        assert equivalent([None], [None]) is True
        assert equivalent(["a"], [1]) is False

    def test_tuples_compare_elements_by_name(self):
        assert equivalent({"Id": 1, "Name": None}, {"Id": 1, "Name": None}) is True
        assert equivalent({"Id": 1, "Name": "John"}, {"Id": 2, "Name": "John"}) is False


class TestCompare:
    def test_null_gives_null(self):
        assert compare(None, 1) is None
        assert compare("a", None) is None

    def test_numbers_order_across_integer_and_decimal(self):
        assert compare(1, Decimal("2.0")) == -1
        assert compare(Decimal("2.0"), 2) == 0
        assert compare(3, 2) == 1

    def test_strings_order_lexically(self):
        assert compare("a", "aa") == -1
        assert compare("Jack", "Jill") == -1
        assert compare("b", "a") == 1

    def test_unordered_types_are_a_programming_error(self):
        with pytest.raises(TypeError):
            compare([1], [2])


class TestOrderingOfUncertainties:
    def test_ranges_that_touch_still_decide_some_relations(self):
        from service.elm.datatypes.uncertainty import Uncertainty
        from service.elm.semantics import greater, greater_or_equal, less, less_or_equal

        age = Uncertainty(18, 19)
        assert compare(age, 18) is None
        assert greater_or_equal(age, 18) is True
        assert greater(age, 18) is None
        assert less(age, 18) is False
        assert less_or_equal(age, 19) is True
        assert less_or_equal(18, age) is True
        assert greater(age, 19) is False
        assert greater_or_equal(18, age) is None
