"""CQL Interval semantics: null bounds, three-valued comparisons, and every interval operator."""

from decimal import Decimal

import pytest

from service.elm.datatypes import interval as iv
from service.elm.datatypes.interval import Interval as I
from service.elm.datatypes.quantity import Quantity as Q
from service.elm.datatypes.temporal import DAY, SECOND, Date, DateTime, Time

D = Decimal


def opened(low, high):
    return I(low, high, False, False)


class TestBounds:
    def test_open_bounds_step_to_the_neighbouring_point(self):
        assert I(1, 10, False, False).start() == 2
        assert I(1, 10, False, False).end() == 9
        assert I(D("1.0"), D("2.0"), True, False).end() == D("1.99999999")
        assert I(Date(2012, 1, 1), Date(2012, 1, 5), False).start() == Date(2012, 1, 2)

    def test_closed_null_bound_of_a_known_type_is_unbounded(self):
        assert I(None, 5).start() == -(2**31)
        assert iv.contains(I(None, 5), 10) is False
        assert iv.proper_includes(I(None, None, point_type="Integer"), I(1, 10)) is True

    def test_open_null_bound_is_unknown(self):
        assert opened(None, 5).start() is None
        assert iv.contains(I(None, 5, False, True), 3) is None
        assert iv.contains(I(None, 5, False, True), 6) is False

    def test_null_bounds_of_unknown_type_are_unknown(self):
        assert iv.overlaps(I(None, None), I(1, 10)) is None


class TestMembership:
    def test_contains_and_in(self):
        assert iv.contains(I(1, 10), 5) is True
        assert iv.contains(I(1, 10), 25) is False
        assert iv.contains(None, 5) is False
        assert iv.contains(I(1, 10), None) is None

    def test_proper_contains_excludes_the_bounds(self):
        i = I(Time(12, 0, 0, 0), Time(21, 59, 59, 999))
        assert iv.proper_contains(i, Time(12, 0, 0, 1)) is True
        assert iv.proper_contains(i, Time(12, 0, 0, 0)) is False

    def test_precision_limits_the_comparison(self):
        i = I(Time(12, 0, 0, 1), Time(21, 59, 59, 999))
        assert iv.proper_contains(i, Time(12, 0, 0)) is None
        assert iv.proper_contains(i, Time(12, 0, 0), SECOND) is False
        whole = I(DateTime(2017, 9, 1, 0, 0, 0, 0), DateTime(2017, 12, 30, 23, 59, 59, 999))
        point = I(DateTime(2017, 9, 1, 0, 0, 0), DateTime(2017, 9, 1, 0, 0, 0))
        assert iv.includes(whole, point) is None
        assert iv.includes(whole, point, DAY) is True

    def test_includes_and_proper_includes(self):
        assert iv.includes(I(1, 10), I(4, 10)) is True
        assert iv.includes(I(1, 10), I(44, 50)) is False
        assert iv.proper_includes(I(1, 10), I(4, 10)) is True
        assert iv.proper_includes(I(1, 10), I(1, 10)) is False


class TestOrdering:
    def test_before_and_after_for_points_and_intervals(self):
        assert iv.before(I(1, 10), I(11, 20)) is True
        assert iv.before(9, I(11, 20)) is True
        assert iv.after(I(11, 20), 5) is True
        assert iv.after(I(11, 20), 12) is False
        assert iv.before(None, I(1, 10)) is None

    def test_meets_uses_successor(self):
        assert iv.meets(I(1, 10), I(11, 20)) is True
        assert iv.meets_before(I(D("3.50000001"), D("5.00000011")), I(D("5.00000012"), D("8.5")))
        assert iv.meets_after(I(Q(55, "g"), Q(60, "g")), I(Q(1, "g"), Q("54.99999999", "g")))
        assert iv.meets(opened(None, 5), opened(None, 15)) is None

    def test_overlaps_variants(self):
        assert iv.overlaps(I(1, 10), I(4, 10)) is True
        assert iv.overlaps(I(4, 10, True, False), I(10, 20)) is False
        assert iv.overlaps_before(I(4, 10), I(4, 10, False, True)) is True
        assert iv.overlaps_before(I(4, 10), I(4, 10)) is False
        assert iv.overlaps_after(I(4, 11, True, False), I(4, 10, True, False)) is True

    def test_partial_precision_overlap_is_uncertain(self):
        a = I(DateTime(2012, 2, 25), DateTime(2012, 3, 26))
        assert iv.overlaps(a, I(DateTime(2012, 1, 10), DateTime(2012, 2))) is None
        b = I(DateTime(2012, 2), DateTime(2013))
        assert iv.overlaps(b, I(DateTime(2012, 3), DateTime(2013, 2))) is True

    def test_starts_and_ends(self):
        assert iv.starts(I(5, 10), I(5, 15)) is True
        assert iv.ends(I(4, 10), I(1, 10)) is True
        assert iv.ends(I(1, 10), opened(None, None)) is None


class TestSetOperations:
    def test_union_needs_overlap_or_adjacency(self):
        assert iv.union(I(1, 10), I(4, 15)) == I(1, 15)
        assert iv.union(I(1, 10), I(11, 15)) == I(1, 15)
        assert iv.union(I(1, 10), I(44, 50)) is None

    def test_intersect_keeps_unknown_bounds(self):
        assert iv.intersect(I(1, 10), I(4, 10)) == I(4, 10)
        assert iv.intersect(I(1, 10), I(5, None, True, False)) == I(5, None, True, False)
        assert iv.intersect(I(1, 10), I(11, 20)) is None

    def test_except_cuts_one_side(self):
        assert iv.except_(I(1, 4), I(3, 6)).cql_equal(I(1, 2)) is True
        cut = iv.except_(I(D("1.0"), D("10.0")), I(D("4.0"), D("10.0")))
        assert cut == I(D("1.0"), D("4.0"), True, False)
        assert cut.cql_equal(I(D("1.0"), D("3.99999999"))) is True
        assert iv.except_(I(1, 10), I(3, 7)) is None
        assert iv.except_(I(1, 10), I(20, 30)) == I(1, 10)

    def test_collapse_merges_overlapping_and_adjacent(self):
        got = iv.collapse([I(1, 2), I(3, 7), I(10, 19), I(7, 10)])
        assert got == [I(1, 19)]
        assert iv.collapse([opened(None, None)]) == []

    def test_collapse_with_per_bridges_gaps(self):
        assert iv.collapse([I(1, 2), I(5, 6)], 3) == [I(1, 6)]
        assert iv.collapse([I(1, 2), I(6, 7)], 3) == [I(1, 2), I(6, 7)]

    def test_collapse_per_a_time_unit_works_at_that_precision(self):
        a = I(DateTime(2024, 1, 1, 8, 0), DateTime(2024, 1, 2, 10, 0))
        b = I(DateTime(2024, 1, 3, 9, 0), DateTime(2024, 1, 4, 9, 0))
        assert iv.collapse([a, b]) == [a, b]
        assert iv.collapse([a, b], Q(1, "day")) == [I(a.low, b.high)]


class TestWidthSizeAndPoints:
    def test_width_and_size(self):
        assert iv.width(I(D("4.0"), D("15.0"))) == D("11.0")
        assert iv.size(I(1, 10)) == 10
        assert iv.width(I(Q(5, "g"), Q(10, "g"))) == Q(5, "g")
        with pytest.raises(iv.IntervalError):
            iv.width(I(DateTime(2012, 1, 5), DateTime(2012, 1, 25)))

    def test_point_from_needs_a_unit_interval(self):
        assert iv.point_from(I(1, 1)) == 1
        with pytest.raises(iv.IntervalError):
            iv.point_from(I(1, 2))


class TestExpand:
    def test_integer_intervals_expand_per_step(self):
        assert iv.expand([I(1, 10, True, False)], 2) == [I(1, 2), I(3, 4), I(5, 6), I(7, 8)]
        assert iv.expand(I(1, 10), 2) == [1, 3, 5, 7, 9]

    def test_decimal_steps_follow_the_precision_of_per(self):
        got = iv.expand([I(10, 10)], D("0.1"))
        assert len(got) == 10
        assert got[-1] == I(D("10.9"), D("10.9"))

    def test_dates_expand_per_calendar_quantity(self):
        got = iv.expand([I(Date(2018, 1, 1), Date(2018, 1, 4))], Q(2, "days"))
        assert got == [I(Date(2018, 1, 1), Date(2018, 1, 2)), I(Date(2018, 1, 3), Date(2018, 1, 4))]
        assert iv.expand(I(Time(10, 0), Time(12, 30)), Q(1, "hour")) == [
            Time(10),
            Time(11),
            Time(12),
        ]


class TestEquality:
    def test_equal_compares_normalised_bounds(self):
        assert I(1, 10).cql_equal(I(1, 11, True, False)) is True
        assert I(1, 10).cql_equal(opened(None, None)) is None

    def test_equivalent_is_never_null(self):
        assert I(1, 10).cql_equivalent(I(1, 10)) is True
        assert opened(None, 5).cql_equivalent(opened(None, 5)) is True
        assert I(44, 50).cql_equivalent(I(1, 10)) is False
