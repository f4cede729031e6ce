"""Specs for the date/time and interval operator nodes, checked on translated CQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from service.elm import ElmEngine, ElmRuntimeError
from service.elm.datatypes.interval import Interval
from service.elm.datatypes.quantity import Quantity
from service.elm.datatypes.temporal import Date, DateTime, Time
from service.elm.datatypes.uncertainty import Uncertainty

from .conftest import engine_for

SPEC = r"""
library TemporalSpec version '1'
define "NoOffset": DateTime(2020, 1, 2, 3, 4)
define "WithOffset": DateTime(2020, 1, 2, 3, 4, 5, 6, -5.5)
define "NowValue": Now()
define "TodayValue": Today()
define "TimeOfDayValue": TimeOfDay()
define "Components": { year from @2003-10-29T20:50:33.955, month from @2003-10-29,
  hour from @T23:20:15.555, millisecond from @2003-10-29T20:50:33.955 }
define "OffsetFrom": timezoneoffset from @2003-10-29T20:50:33.955+01:00
define "DateFromDT": date from @2003-10-29T20:50:33.955+01:00
define "TimeFromDT": time from @2003-10-29T20:50:33.955+01:00
define "Age": years between @1990-06-15 and @2020-06-14
define "Uncertain": months between DateTime(2005) and DateTime(2006, 7)
define "UncertainGreater": months between DateTime(2005) and DateTime(2006, 7) > 5
define "UncertainNull": months between DateTime(2005) and DateTime(2006, 2) > 5
define "Difference": difference in weeks between @2012-03-10T22:05:09 and @2012-03-24T07:19:33
define "SameDay": @2014-12-10T10:00 same day as @2014-12-10T23:00
define "SameDayUnknown": DateTime(2014, 10) same day as DateTime(2014, 10, 12)
define "OnOrAfter": @2012-03-10T10:20:00.999+07:00 same hour or after @2012-03-10T09:20:00.999+06:00
define "PointBefore": @2012-01-01 before Interval[@2012-01-02, @2012-01-05]
define "IntervalAfterPoint": Interval[11, 20] after 5
define "BeforeMonth": DateTime(2004, 10, 10) before month of DateTime(2004, 11, 10)
define "DateArithmetic": { Date(2014, 1, 31) + 1 month, DateTime(2014) + 25 months,
  @T15:59:59.999 + 1 millisecond }
define "QuantityArithmetic": { 1 'm' + 10 'cm', 2 'cm' * 3 'cm', 10 'mg' / 2 'mL' }
define "IntervalSelector": Interval[1, 10)
define "BadInterval": Interval[5, 5)
define "BadMonth": DateTime(2014, 13)
define "ReversedFromData": Interval[Today(), Today() - 1 day]
define "ListUnion": { 1, 2 } union { 2, 3 }
define "IntervalUnion": Interval[1, 5] union Interval[4, 8]
define "ListExcept": { 1, 2, 3 } except { 2 }
define "IntervalContains": Interval[1, 10] contains 5
define "ListContains": { 1, 2 } contains 3
define "InDayOf": @2017-09-01T10:00 in day of
  Interval[@2017-09-01T00:00:00.000, @2017-09-02T00:00:00.000]
define "Collapsed": collapse { Interval[1, 5], Interval[3, 7], Interval[12, 19] }
define "Expanded": expand { Interval[@2018-01-01, @2018-01-04] } per 2 days
define "Overlaps": Interval[@2012-01-05, @2012-01-25] overlaps Interval[@2012-01-15, @2012-01-28]
define "StartEnd": { start of Interval(1, 10], end of Interval[1, 10) }
define "Width": width of Interval[4.0, 15.0]
define "ProperIn": 'a' properly included in { 'a', 'b', null }
define "ProperInUnknown": 'a' properly included in { 'a', null }
define "IncludesEmpty": { 1, 2, 3 } includes { }
define "NullIncludedIn": null included in { 2 }
define "NullListIncludes": null as List<Integer> includes { 2 }
define "ContainsNull": { 'a', null } contains null
define "Fractions": { @T10:00:00.5, @T10:00:00.05, @T23:59:59.10000 }
define "DateTimeFraction": @2020-01-01T10:00:00.05Z
define "SelectorMillisecond": Time(10, 0, 0, 5)
"""

NOW = dt.datetime(2024, 5, 6, 7, 8, 9, 10_000, tzinfo=dt.timezone(dt.timedelta(hours=2)))


@pytest.fixture(scope="module")
def engine(translate) -> ElmEngine:
    return engine_for(translate(SPEC))


@pytest.fixture(scope="module")
def results(engine: ElmEngine) -> dict:
    names = [n for n in engine.definitions("TemporalSpec") if not n.startswith("Bad")]
    return engine.evaluate("TemporalSpec", names, now=NOW)


def test_datetime_selector_without_offset_takes_the_evaluation_offset(results: dict) -> None:
    assert results["NoOffset"].tz == Decimal(2)
    assert results["WithOffset"].tz == Decimal("-5.5")
    assert str(results["WithOffset"]) == "2020-01-02T03:04:05.006-05:30"


def test_now_today_and_time_of_day_come_from_the_evaluation_time(results: dict) -> None:
    assert results["NowValue"] == DateTime(2024, 5, 6, 7, 8, 9, 10, 2)
    assert results["TodayValue"] == Date(2024, 5, 6)
    assert results["TimeOfDayValue"] == Time(7, 8, 9, 10)


def test_component_extraction(results: dict) -> None:
    assert results["Components"] == [2003, 10, 23, 955]
    assert results["OffsetFrom"] == Decimal(1)
    assert results["DateFromDT"] == Date(2003, 10, 29)
    assert results["TimeFromDT"] == Time(20, 50, 33, 955)


def test_durations_count_whole_periods_with_uncertainty(results: dict) -> None:
    assert results["Age"] == 29
    assert results["Uncertain"] == Uncertainty(6, 18)
    assert results["UncertainGreater"] is True
    assert results["UncertainNull"] is None
    assert results["Difference"] == 2


def test_same_as_and_ordering_with_precision(results: dict) -> None:
    assert results["SameDay"] is True
    assert results["SameDayUnknown"] is None
    assert results["OnOrAfter"] is True
    assert results["BeforeMonth"] is True
    assert results["PointBefore"] is True
    assert results["IntervalAfterPoint"] is True


def test_arithmetic_with_time_quantities_and_units(results: dict) -> None:
    assert results["DateArithmetic"] == [
        Date(2014, 2, 28),
        DateTime(2016, tz=2),
        Time(16, 0, 0, 0),
    ]
    m, area, conc = results["QuantityArithmetic"]
    assert (m.value, m.unit) == (Decimal(110), "cm")
    assert area == Quantity(6, "cm2")
    assert conc == Quantity(5, "mg/mL")


def test_interval_selector_and_invalid_bounds(results: dict, engine: ElmEngine) -> None:
    assert results["IntervalSelector"] == Interval(1, 10, True, False)
    assert results["StartEnd"] == [2, 9]
    with pytest.raises(ElmRuntimeError):
        engine.evaluate("TemporalSpec", ["BadInterval"], now=NOW)


def test_operators_shared_with_lists_dispatch_on_the_operand(results: dict) -> None:
    assert results["ListUnion"] == [1, 2, 3]
    assert results["IntervalUnion"] == Interval(1, 8)
    assert results["ListExcept"] == [1, 3]
    assert results["IntervalContains"] is True
    assert results["ListContains"] is False
    assert results["ProperIn"] is True


def test_list_membership_of_null_and_unknown_elements(results: dict) -> None:
    assert results["ProperInUnknown"] is None
    assert results["IncludesEmpty"] is True
    assert results["NullIncludedIn"] is None
    assert results["NullListIncludes"] is None
    assert results["ContainsNull"] is True


def test_interval_operators(results: dict) -> None:
    assert results["InDayOf"] is True
    assert results["Collapsed"] == [Interval(1, 7), Interval(12, 19)]
    assert results["Expanded"] == [
        Interval(Date(2018, 1, 1), Date(2018, 1, 2)),
        Interval(Date(2018, 1, 3), Date(2018, 1, 4)),
    ]
    assert results["Overlaps"] is True
    assert results["Width"] == Decimal("11.0")


def test_literal_fractions_of_a_second_keep_their_place_value(results: dict) -> None:
    assert results["Fractions"] == [Time(10, 0, 0, 500), Time(10, 0, 0, 50), Time(23, 59, 59, 100)]
    assert results["DateTimeFraction"] == DateTime(2020, 1, 1, 10, 0, 0, 50, 0)
    assert results["SelectorMillisecond"] == Time(10, 0, 0, 5)


def test_reversed_bounds_from_data_are_kept(results: dict) -> None:
    reversed_ = results["ReversedFromData"]
    assert (reversed_.low, reversed_.high) == (Date(2024, 5, 6), Date(2024, 5, 5))


def test_invalid_components_are_run_time_errors(engine: ElmEngine) -> None:
    with pytest.raises(ElmRuntimeError):
        engine.evaluate("TemporalSpec", ["BadMonth"], now=NOW)


def test_literals_without_offset_follow_each_evaluation_offset(engine: ElmEngine) -> None:
    later = NOW.astimezone(dt.timezone(dt.timedelta(hours=-5)))
    assert engine.evaluate("TemporalSpec", ["NoOffset"], now=later)["NoOffset"].tz == -5
    assert engine.evaluate("TemporalSpec", ["NoOffset"], now=NOW)["NoOffset"].tz == 2
