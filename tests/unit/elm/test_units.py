"""Specs for the one table of CQL time units (service/elm/units.py).

CQL Author's Guide, Quantities: "For example, `1 year` is not equal (`=`) to `1 'a'` (defined in
UCUM as 365.25 'd'), but it is equivalent (`~`) to `1 'a'`." and "For all but years and months,
calendar durations are both equal and equivalent to the corresponding UCUM definite-time
duration unit."
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from service.elm import units
from service.elm.datatypes.quantity import Quantity as Q
from service.elm.datatypes.temporal import Date
from service.elm.semantics import equal, equivalent

ROOT = Path(__file__).resolve().parents[3]


def test_a_ucum_year_is_365_25_days_and_a_ucum_month_a_twelfth_of_it() -> None:
    assert units.UCUM_DAYS["a"] == Decimal("365.25")
    assert units.UCUM_DAYS["mo"] == Decimal("30.4375")
    assert Q(1, "a").convert("d") == Q(Decimal("365.25"), "d")


def test_a_calendar_year_added_to_a_leap_day_is_calendar_arithmetic() -> None:
    assert Date(2024, 2, 29).add(Q(1, "year")) == Date(2025, 2, 28)
    assert Date(2024, 1, 31).add(Q(1, "month")) == Date(2024, 2, 29)


def test_without_an_anchor_a_calendar_year_is_365_days_and_a_month_30() -> None:
    # Reference, Equivalent: "calendar-time duration unit conversions shall be performed
    # according to calendar duration semantics: 1 year ~ 12 months, 1 year ~ 365 days,
    # 1 month ~ 30 days, 1 week = 7 days"
    assert equivalent(Q(1, "year"), Q(365, "days")) is True
    assert equivalent(Q(1095, "days"), Q(3, "years")) is True
    assert equivalent(Q(60, "days"), Q(2, "months")) is True
    assert equivalent(Q(1, "year"), Q(12, "months")) is True
    assert Q(2, "years").convert("days") == Q(730, "days")
    # a date's precision is coarser than the quantity: converted at 365 days to a year
    assert Date(2014).add(Q(735, "days")) == Date(2016)


def test_years_and_months_are_not_equal_to_definite_durations() -> None:
    # Reference, Equal: "unit conversion between variable length calendar durations (i.e. years
    # and months) and definite-time durations (i.e. days or below) results in null."
    assert equal(Q(1, "year"), Q(1, "a")) is None
    assert equal(Q(1, "year"), Q(365, "days")) is None
    assert equivalent(Q(1, "year"), Q(1, "a")) is True
    assert equivalent(Q(1, "month"), Q(1, "mo")) is True
    assert equal(Q(1, "year"), Q(12, "months")) is True


@pytest.mark.parametrize(
    ("keyword", "code"),
    [("week", "wk"), ("day", "d"), ("hour", "h"), ("minute", "min"), ("second", "s"),
     ("millisecond", "ms")],
)  # fmt: skip
def test_week_and_finer_keywords_are_the_same_unit_as_their_ucum_code(keyword, code) -> None:
    assert units.unit_index(keyword) == units.unit_index(keyword + "s") == units.unit_index(code)
    assert equal(Q(1, keyword), Q(1, code)) is True
    assert equivalent(Q(1, keyword + "s"), Q(1, code)) is True


def test_every_spelling_is_known_once() -> None:
    spellings = [s for u in units.TIME_UNITS for s in (u.name, u.plural, u.ucum)]
    assert len(spellings) == len(set(spellings)) == 24
    assert units.unit_index("Year") == units.YEAR  # ELM precisions are capitalised
    assert units.unit_index("fortnight") is None
    assert units.PLURAL_TO_SINGULAR["milliseconds"] == "millisecond"
    assert units.CALENDAR_TO_UCUM["weeks"] == "wk"


# Spellings of a unit table: a time keyword or UCUM code as a dict key, or a year/month length.
_STRAY = re.compile(
    r"""["'](?:years?|months?|weeks?|wk|mo)["']\s*:"""
    r"|365\.25|30\.4375|\b31557600\b|\b2629800\b|\b604800\b"
)


def test_no_module_keeps_its_own_unit_table() -> None:
    owned = {ROOT / "service" / "elm" / "units.py"}
    scanned = [ROOT / "service" / "elm", ROOT / "service" / "knowledge" / "data_requirements.py"]
    files = [p for d in scanned for p in ([d] if d.is_file() else d.rglob("*.py"))]
    stray = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in files
        if p not in owned
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if _STRAY.search(line) and not line.lstrip().startswith("#")
    ]
    assert stray == []
