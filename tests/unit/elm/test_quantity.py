"""CQL Quantity and Ratio with UCUM unit conversion."""

from decimal import Decimal

import pytest

from service.elm.datatypes import ucum
from service.elm.datatypes.quantity import Quantity as Q
from service.elm.datatypes.quantity import Ratio


class TestUcumSubset:
    @pytest.mark.parametrize(
        ("value", "source", "target", "expected"),
        [
            ("1", "cm", "m", "0.01"),
            ("100", "mg/dL", "g/L", "1"),
            ("1", "mm[Hg]", "Pa", "133.322"),
            ("5", "10*3/uL", "10*9/L", "5"),
            ("1", "kg.m-2", "g/cm2", "0.1"),
            ("1", "{beats}/min", "/h", "60"),
            ("1", "[lb_av]", "kg", "0.45359237"),
            ("50", "%", "1", "0.5"),
            ("1", "a", "d", "365.25"),
            ("1", "mmol/L", "mol/m3", "1"),
            ("100", "Cel", "[degF]", "212"),
            ("32", "[degF]", "Cel", "0"),
        ],
    )
    def test_converts_clinical_units(self, value, source, target, expected):
        assert ucum.convert(Decimal(value), source, target) == Decimal(expected)

    def test_units_of_different_dimensions_do_not_convert(self):
        assert ucum.convert(Decimal(1), "g", "m") is None
        assert not ucum.convertible("mg/dL", "mmol/L")

    def test_annotations_count_as_one(self):
        assert ucum.is_valid("{eskimo_kisses}")
        assert ucum.convertible("mL/min/{1.73_m2}", "L/s")

    def test_unknown_atoms_are_rejected(self):
        assert not ucum.is_valid("furlong")

    @pytest.mark.parametrize("unit", ["((", "m.", "m//s", "/", "{a}{b}", "[", "m-", "kg/(m"])
    def test_malformed_expressions_are_invalid_not_crashes(self, unit):
        assert not ucum.is_valid(unit)
        assert ucum.convert(Decimal(1), unit, "m") is None

    @pytest.mark.parametrize(
        ("unit", "target", "factor"),
        [("km/h", "m/s", "0.2777777777777777777777777778"), ("ug/kg/min", "mg/kg/h", "0.06")],
    )
    def test_compound_rates_convert(self, unit, target, factor):
        assert ucum.convert(Decimal(1), unit, target) == Decimal(factor)


class TestQuantityComparison:
    def test_equality_converts_units(self):
        assert Q(1, "cm").cql_equal(Q("0.01", "m")) is True
        assert Q("2.0", "cm").cql_equal(Q("2.00", "cm")) is True

    def test_ordering_converts_units(self):
        assert Q(1, "m").cql_compare(Q(10, "cm")) == 1
        assert Q(0, "cm").cql_compare(Q(-1, "cm")) == 1

    def test_incompatible_units_are_not_comparable(self):
        assert Q(1, "g").cql_equal(Q(1, "m")) is None
        assert Q(1, "g").cql_equivalent(Q(1, "m")) is False

    def test_calendar_years_and_months_are_not_definite_durations(self):
        assert Q(1, "year").cql_equal(Q(1, "a")) is None
        assert Q(1, "year").cql_equivalent(Q(1, "a")) is True
        assert Q(1, "months").cql_equivalent(Q(1, "mo")) is True
        assert Q(1, "year").cql_equal(Q(12, "months")) is True

    def test_definite_calendar_durations_equal_their_ucum_units(self):
        assert Q(1, "day").cql_equal(Q(1, "d")) is True
        assert Q(1, "week").cql_equal(Q(1, "wk")) is True
        assert Q(1, "milliseconds").cql_equal(Q(1, "ms")) is True


class TestQuantityArithmetic:
    def test_addition_is_expressed_in_the_finer_unit(self):
        assert Q(1, "m").add(Q(10, "cm")) == Q(110, "cm")
        assert Q(1, "mg").subtract(Q(1, "g")) == Q(-999, "mg")
        assert Q(1, "g").add(Q(1, "m")) is None

    def test_multiplication_composes_units(self):
        assert Q(2, "cm").multiply(Q(3, "cm")) == Q(6, "cm2")
        assert Q(2, "cm").multiply(Q(3, "m")) == Q(600, "cm2")
        assert Q(1, "g/cm3").multiply(Q(2, "cm3")) == Q(2, "g")

    def test_division_of_like_quantities_is_dimensionless(self):
        assert Q(1, "g/cm3").divide(Q(1, "g/cm3")) == Q(1, "1")
        assert Q(10, "g").divide(5) == Q(2, "g")
        assert Q(10, "g").divide(Q(0, "g")) is None

    def test_truncated_division_and_modulo_keep_the_unit(self):
        assert Q("4.14", "m").truncated_divide(Q("2.06", "m")) == Q(2, "m")
        assert Q("3.5", "cm").modulo(Q(3, "cm")) == Q("0.5", "cm")

    def test_predecessor_steps_by_the_decimal_step(self):
        assert Q(1, "cm").predecessor() == Q("0.99999999", "cm")

    def test_to_string(self):
        assert str(Q("5.5", "cm")) == "5.5 'cm'"


class TestRatio:
    def test_equal_needs_equal_terms(self):
        assert Ratio(Q(1, "cm"), Q(2, "cm")).cql_equal(Ratio(Q(1, "cm"), Q(2, "cm"))) is True
        assert Ratio(Q(1, "cm"), Q(2, "cm")).cql_equal(Ratio(Q("1.1", "cm"), Q(2, "cm"))) is False

    def test_equivalent_means_the_same_proportion(self):
        assert Ratio(Q(1, "mg"), Q(100, "mL")).cql_equivalent(Ratio(Q(10, "mg"), Q(1000, "mL")))
        assert not Ratio(Q(1, "cm"), Q(2, "cm")).cql_equivalent(Ratio(Q(3, "cm"), Q(2, "cm")))
