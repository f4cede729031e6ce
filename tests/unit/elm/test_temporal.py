"""CQL Date, DateTime and Time values: precision, comparison, arithmetic, durations."""

from decimal import Decimal

import pytest

from service.elm.datatypes.temporal import (
    DAY,
    HOUR,
    MILLISECOND,
    MONTH,
    WEEK,
    YEAR,
    Date,
    DateTime,
    TemporalError,
    Time,
)
from service.elm.datatypes.uncertainty import Uncertainty


class Q:
    """A minimal quantity (value, unit) as the temporal arithmetic reads it."""

    def __init__(self, value, unit):
        self.value = Decimal(value)
        self.unit = unit


def dt(s):
    return DateTime.parse(s)


class TestParsingAndFormatting:
    def test_precision_is_the_finest_component_given(self):
        assert DateTime(2014).precision == YEAR
        assert DateTime(2014, 1, 1, None).precision == DAY
        assert dt("2014-01-25T14:30:14.559+01:00").precision == MILLISECOND

    def test_cql_literal_forms_parse(self):
        assert dt("@2005-10-10T") == DateTime(2005, 10, 10)
        assert dt("2014-01-25T14:30:14.559+01:00").tz == Decimal(1)
        assert dt("2014-01-25T14:30:14Z").tz == 0
        assert Date.parse("2014-02") == Date(2014, 2)
        assert Time.parse("T23:59:59.999") == Time(23, 59, 59, 999)

    def test_invalid_components_are_rejected(self):
        assert dt("2014-02-30") is None
        with pytest.raises(TemporalError):
            DateTime(2014, 13)

    def test_to_string_keeps_precision_and_offset(self):
        assert str(DateTime(2003, 10, 29, 20, 50, 33, 955, 1)) == "2003-10-29T20:50:33.955+01:00"
        assert str(DateTime(2017, 3, 12, 3, 0, 0, 0, Decimal("-5.5"))).endswith("-05:30")
        assert str(Date(2014, 6)) == "2014-06"
        assert str(Time(5, 3)) == "05:03"


class TestComparison:
    def test_missing_components_make_order_uncertain(self):
        assert DateTime(2014).cql_compare(DateTime(2014, 2, 15)) is None
        assert DateTime(2015).cql_compare(DateTime(2014, 2, 15)) == 1
        assert DateTime(2013).cql_compare(DateTime(2014, 2, 15)) == -1

    def test_milliseconds_are_a_precision_of_their_own(self):
        assert DateTime(2014, 1, 1, 0, 0, 0).cql_equal(DateTime(2014, 1, 1, 0, 0, 0, 0)) is None
        assert Time(10, 0, 0, 1).cql_compare(Time(10, 0, 0)) is None
        assert Time(10, 0, 1).cql_compare(Time(10, 0, 0, 999)) == 1

    def test_offsets_are_normalised_before_comparing(self):
        a = dt("2012-03-10T10:20:00.999+07:00")
        assert a.after(dt("2012-03-10T08:20:00.999+06:00"), HOUR) is True
        assert a.same_as(dt("2012-03-10T09:20:00.999+06:00"), HOUR) is True
        assert a.cql_equal(dt("2012-03-10T03:20:00.999Z")) is True

    def test_a_value_with_an_hour_moves_to_the_offset_of_a_coarser_one(self):
        next_year = dt("1941-01-01T00:00:00+02:00")  # 1940-12-31T22:00 at +00:00
        year = DateTime.parse("1940", Decimal(0))
        assert next_year.cql_compare(year) is None
        assert year.cql_compare(next_year) is None
        assert next_year.same_as(year, YEAR) is True
        assert dt("1941-01-01T03:00:00+02:00").cql_compare(year) == 1

    def test_same_as_with_precision_is_null_when_a_side_lacks_it(self):
        assert DateTime(2014, 10).same_as(DateTime(2014, 10, 12), DAY) is None
        assert DateTime(2014, 10).same_as(DateTime(2014, 10, 12), MONTH) is True

    def test_a_date_against_a_finer_datetime_is_uncertain(self):
        assert Date(2024, 1, 1).cql_compare(DateTime(2024, 1, 1, 10)) is None
        assert Date(2024, 1, 1).cql_compare(DateTime(2024, 1, 2, 10)) == -1
        assert Date(2024, 1, 1).same_as(DateTime(2024, 1, 1, 10), DAY) is True

    def test_equivalence_needs_the_same_precision(self):
        assert Date(2014, 1).cql_equivalent(Date(2014, 1)) is True
        assert DateTime(2014).cql_equivalent(DateTime(2014, 1)) is False


class TestArithmetic:
    def test_months_clamp_to_the_end_of_the_month(self):
        assert Date(2014, 1, 31).add(Q(1, "month")) == Date(2014, 2, 28)
        assert Date(2024, 2, 29).subtract(Q(1, "year")) == Date(2023, 2, 28)

    def test_weeks_are_seven_days(self):
        assert DateTime(2023, 3, 2).add(Q(52, "weeks")).cql_equal(DateTime(2024, 2, 29))

    def test_finer_quantity_is_truncated_to_the_value_precision(self):
        assert Date(2014).add(Q(25, "months")) == Date(2016)
        assert DateTime(2014).add(Q(735, "days")) == DateTime(2014 + 2)
        assert DateTime(2005, 5, 10).add(Q(25, "hours")) == DateTime(2005, 5, 11)
        assert DateTime(2005, 5, 10).add(Q(5, "hours")) == DateTime(2005, 5, 10)

    def test_ucum_time_units_work_like_calendar_units(self):
        assert Date(2014, 6).add(Q(1, "a")) == Date(2015, 6)
        assert DateTime(2016, 6, 10, 5).add(Q(19, "h")) == DateTime(2016, 6, 11, 0)

    def test_units_must_fit_the_type(self):
        with pytest.raises(TemporalError):
            Time(10).add(Q(1, "day"))
        with pytest.raises(TemporalError):
            Date(2014, 1, 1).add(Q(1, "hour"))

    def test_time_wraps_around_midnight(self):
        assert Time(23, 0).add(Q(2, "hours")) == Time(1, 0)
        assert Time(15, 59, 59, 999).add(Q(1, "millisecond")) == Time(16, 0, 0, 0)

    def test_overflow_is_an_error(self):
        with pytest.raises(TemporalError):
            DateTime(2005, 10, 10).add(Q(8000, "years"))


class TestDurationsAndDifferences:
    def test_duration_counts_whole_periods(self):
        assert Date(2014, 1, 31).duration_between(Date(2014, 2, 1), MONTH) == 0
        assert Date(2024, 1, 31).duration_between(Date(2024, 2, 29), MONTH) == 1
        assert Date(2000, 2, 29).duration_between(Date(2001, 2, 28), YEAR) == 1
        assert Date(2001, 2, 28).duration_between(Date(2000, 2, 29), YEAR) == 0
        assert DateTime(2005, 5).duration_between(DateTime(2010, 4), YEAR) == 4
        assert dt("2012-03-10T22:05:09").duration_between(dt("2012-03-24T07:19:33"), WEEK) == 1

    def test_partial_precision_gives_an_uncertainty(self):
        assert DateTime(2005).duration_between(DateTime(2010), YEAR) == Uncertainty(4, 5)
        assert DateTime(2005).duration_between(DateTime(2006, 5), MONTH) == Uncertainty(4, 16)

    def test_time_components_below_the_unit_known_on_one_side_are_shared(self):
        assert Time(6).duration_between(Time(7, 0, 0), HOUR) == 1

    def test_a_day_precision_datetime_against_a_full_one_is_uncertain(self):
        onset = DateTime(2024, 6, 15, tz=0)
        now = DateTime(2024, 9, 1, 12, 0, 0, 0, 0)
        assert onset.duration_between(now, DAY) == Uncertainty(77, 78)
        assert Date(1955).duration_between(Date(2024, 9, 1), YEAR) == Uncertainty(68, 69)

    def test_duration_uses_elapsed_time_across_offsets(self):
        a = dt("2017-03-12T00:00:00-07:00")
        b = dt("2017-03-13T00:00:00-06:00")
        assert a.duration_between(b, DAY) == 0
        assert a.difference_between(b, DAY) == 1

    def test_difference_counts_boundaries(self):
        assert DateTime(2000).difference_between(DateTime(2005, 12), YEAR) == 5
        assert dt("2012-03-10T22:05:09").difference_between(dt("2012-03-24T07:19:33"), WEEK) == 2
        assert DateTime(2005).difference_between(DateTime(2006, 7), MONTH) == Uncertainty(7, 18)
        a = DateTime(2000, 10, 10, 10, 5, 45, 500, -6)
        b = DateTime(2000, 10, 10, 10, 5, 45, 900, -7)
        assert a.difference_between(b, MILLISECOND) == 3600400


class TestBoundaries:
    def test_low_and_high_boundaries_fill_missing_components(self):
        assert DateTime(2014).high_boundary() == DateTime(2014, 12, 31, 23, 59, 59, 999)
        assert Date(2016, 2).high_boundary() == Date(2016, 2, 29)
        assert Time(10).low_boundary() == Time(10, 0, 0, 0)

    def test_successor_and_predecessor_step_at_the_precision(self):
        assert Date(2014, 12, 31).successor() == Date(2015, 1, 1)
        assert DateTime(2014, 1).predecessor() == DateTime(2013, 12)


class TestUncertainty:
    def test_comparison_is_definite_only_outside_the_range(self):
        u = Uncertainty(7, 18)
        assert u.cql_compare(5) == 1
        assert u.cql_compare(25) == -1
        assert u.cql_compare(10) is None
        assert Uncertainty(1, 13).cql_equal(20) is False

    def test_arithmetic_combines_ranges(self):
        assert Uncertainty(17, 44).add(Uncertainty(17, 44)) == Uncertainty(34, 88)
        assert Uncertainty(17, 44).subtract(Uncertainty(4, 16)) == Uncertainty(1, 40)
        assert Uncertainty(2, 3).multiply(-1) == Uncertainty(-3, -2)
        assert Uncertainty(77, 78).truncated_divide(7) == 11
        assert Uncertainty(-3, 2).abs() == Uncertainty(0, 3)
        assert Uncertainty(70, 78).truncated_divide(7) == Uncertainty(10, 11)
