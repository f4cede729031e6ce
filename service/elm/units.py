"""CQL time units: the one table of calendar keywords, UCUM codes, plural forms and lengths.

Every module that needs to know what ``year``, ``'mo'`` or ``weeks`` means imports it from here
(the engine's date arithmetic and quantities, UCUM, canonical JSON, the knowledge service's data
requirements). ``tests/unit/elm/test_units.py`` fails when a second table appears elsewhere.

CQL distinguishes two kinds of time-valued quantity (CQL 1.5, Author's Guide "Quantities" and
Reference "Equal"/"Equivalent"):

- *calendar durations* (``1 year``, ``3 months``, ``4 days``): keywords, singular or plural.
  Years and months have no fixed length; adding them to a date is calendar arithmetic
  (``@2024-02-29 + 1 year = @2025-02-28``, month ends clamp).
- *definite durations*: UCUM units (``1 'a'``, ``4 'd'``) with UCUM's fixed lengths: a Julian
  year ``'a'`` is 365.25 days and ``'mo'`` is ``'a'``/12 = 30.4375 days.

"For all but years and months, calendar durations are both equal and equivalent to the
corresponding UCUM definite-time duration unit" (``1 week = 1 'wk'``); ``1 year ~ 1 'a'`` but
``1 year = 1 'a'`` is null. So three lengths of a year exist, each right for its own use:

- ``UCUM_SECONDS['a']`` = 365.25 days: converting UCUM quantities, FHIR ``Duration``s (which are
  UCUM-coded) and comparing lookback windows expressed as such Durations.
- ``CALENDAR_DAYS[YEAR]`` = 365 and ``CALENDAR_DAYS[MONTH]`` = 30: calendar semantics where no
  date anchors the duration ("1 year ~ 365 days", "1 month ~ 30 days"): a calendar year or
  month compared with or converted to calendar days, and a duration finer than a date's
  precision (``Date(2014) + 735 days = @2016``).
- calendar arithmetic on a date: no length at all, the calendar decides (365 or 366 days).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

#: Precision indexes (the order of Date/DateTime/Time components).
YEAR, MONTH, DAY, HOUR, MINUTE, SECOND, MILLISECOND = range(7)
#: A duration unit only, never a precision.
WEEK = 7

#: The precision names of Date/DateTime/Time components, in component order.
PRECISION_NAMES = ("year", "month", "day", "hour", "minute", "second", "millisecond")


@dataclass(frozen=True)
class TimeUnit:
    """One CQL time unit."""

    index: int  #: YEAR .. MILLISECOND, or WEEK
    name: str  #: the CQL calendar keyword (singular)
    plural: str  #: its plural keyword
    ucum: str  #: the UCUM definite-duration code it is equivalent to
    ucum_seconds: Decimal  #: the UCUM code's fixed length (UCUM: 'a' = 365.25 'd')
    #: Years and months only: days in one unit under CQL calendar semantics with no anchoring
    #: date ("1 year ~ 365 days", "1 month ~ 30 days"). None: the unit has a fixed length.
    calendar_days: Decimal | None = None

    @property
    def calendar_seconds(self) -> Decimal:
        """Seconds in one unit under calendar semantics (365-day years, 30-day months)."""
        if self.calendar_days is None:
            return self.ucum_seconds
        return self.calendar_days * _DAY_S


_DAY_S = Decimal(86400)
_UCUM_YEAR_S = Decimal("365.25") * _DAY_S

TIME_UNITS: tuple[TimeUnit, ...] = (
    TimeUnit(YEAR, "year", "years", "a", _UCUM_YEAR_S, calendar_days=Decimal(365)),
    TimeUnit(MONTH, "month", "months", "mo", _UCUM_YEAR_S / 12, calendar_days=Decimal(30)),
    TimeUnit(WEEK, "week", "weeks", "wk", 7 * _DAY_S),
    TimeUnit(DAY, "day", "days", "d", _DAY_S),
    TimeUnit(HOUR, "hour", "hours", "h", Decimal(3600)),
    TimeUnit(MINUTE, "minute", "minutes", "min", Decimal(60)),
    TimeUnit(SECOND, "second", "seconds", "s", Decimal(1)),
    TimeUnit(MILLISECOND, "millisecond", "milliseconds", "ms", Decimal("0.001")),
)

BY_INDEX: dict[int, TimeUnit] = {u.index: u for u in TIME_UNITS}

#: Every spelling (singular, plural, UCUM code) → its unit.
BY_SPELLING: dict[str, TimeUnit] = {s: u for u in TIME_UNITS for s in (u.name, u.plural, u.ucum)}

#: Calendar keyword (singular and plural) → the UCUM code used to convert it.
CALENDAR_TO_UCUM: dict[str, str] = {s: u.ucum for u in TIME_UNITS for s in (u.name, u.plural)}

#: Plural calendar keyword → singular (``3 months`` is written ``3 month`` canonically).
PLURAL_TO_SINGULAR: dict[str, str] = {u.plural: u.name for u in TIME_UNITS}

#: Calendar keywords of variable length (years and months): not equal to any definite duration.
VARIABLE_CALENDAR: frozenset[str] = frozenset(
    s for u in TIME_UNITS if u.index in (YEAR, MONTH) for s in (u.name, u.plural)
)

#: Milliseconds in one unit, for the units of fixed length (week, day and finer).
MILLISECONDS: dict[int, int] = {
    u.index: int(u.ucum_seconds * 1000) for u in TIME_UNITS if u.index not in (YEAR, MONTH)
}

#: Days in a calendar year / month when no date anchors it (CQL "1 year ~ 365 days").
CALENDAR_DAYS: dict[int, Decimal] = {
    u.index: u.calendar_days for u in TIME_UNITS if u.calendar_days is not None
}

#: UCUM definite-duration lengths in days ('a' = 365.25, 'mo' = 30.4375): FHIR Durations are
#: UCUM-coded, so comparing lookback windows given as Durations uses these.
UCUM_DAYS: dict[str, Decimal] = {u.ucum: u.ucum_seconds / _DAY_S for u in TIME_UNITS}


def calendar_factor(from_unit: str, to_unit: str) -> Decimal | None:
    """How many ``to_unit`` make one ``from_unit`` under calendar semantics, when one side is a
    calendar year/month keyword and the other a calendar keyword of fixed length (week or
    finer): ``calendar_factor('year', 'days') == 365``. None for every other pair, which
    converts as UCUM (``'a'`` = 365.25 ``'d'``; year to months is 12 either way).

    CQL Reference, Equivalent: "calendar-time duration unit conversions shall be performed
    according to calendar duration semantics: 1 year ~ 12 months, 1 year ~ 365 days,
    1 month ~ 30 days, 1 week = 7 days, ..."."""
    if from_unit not in CALENDAR_TO_UCUM or to_unit not in CALENDAR_TO_UCUM:
        return None
    if (from_unit in VARIABLE_CALENDAR) == (to_unit in VARIABLE_CALENDAR):
        return None
    return BY_SPELLING[from_unit].calendar_seconds / BY_SPELLING[to_unit].calendar_seconds


def unit_index(unit: str | None) -> int | None:
    """Index of a time unit spelled as a keyword or UCUM code ('Year', 'months', 'wk', ...),
    matched as written and then in lower case (ELM precisions are 'Year', 'Month', ...);
    None if it is not one."""
    if unit is None:
        return None
    u = BY_SPELLING.get(unit)
    if u is None:
        u = BY_SPELLING.get(unit.lower())
    return None if u is None else u.index


def time_unit(unit: str | None) -> TimeUnit | None:
    """The unit for a keyword (any case, singular or plural) or UCUM code, None otherwise."""
    i = unit_index(unit.strip()) if unit is not None else None
    return None if i is None else BY_INDEX[i]
