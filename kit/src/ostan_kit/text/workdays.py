"""The Jalali working calendar, and the one reading of «روز» in administrative deadlines.

**The day rule.** An unqualified «روز» in a deadline («حداکثر ظرف ۵ روز», «20 روز از تاریخ ثبت»)
is a calendar day, counted as the Civil Procedure Law (قانون آیین دادرسی دادگاه‌های عمومی و انقلاب
در امور مدنی، ۱۳۷۹) counts time limits, the counting Iranian administrative practice follows where
a regulation says nothing of its own: a day is a whole day (Art. 443); the day of the event the
limit runs from is not counted (Art. 445), so N days end when the Nth following day ends; and a
limit whose last day falls on a day the offices are closed ends when the next working day ends
(Art. 444). ``WorkingCalendar.deadline`` is that rule. Only where a source itself says «روز کاری»
(working days) does a definition count working time instead (``WorkingCalendar.add``).

A governorate's offices close on weekend days (Friday, and in some offices Thursday too) and Iran's
official holidays. Days are the calendar days of
Asia/Tehran, because that is where the office closes; instants going in and coming out are UTC, as
everywhere else in the platform.

Working time (for the «روز کاری» a source names) is continuous: a working day contributes all of itself (00:00 to 24:00 Tehran) and a
closed day contributes nothing, so fractions of a day are meaningful (an SLA warning at 80% of five
working days is ``add(start, 0.8 * 5)``). A day always counts as exactly one, whatever its length in
hours, so the arithmetic would stay exact across the daylight-saving changes Iran made before 2022.

Official holidays come from the ``holidays`` package (Nowruz, the national days, and the lunar
holidays, whose later dates are estimates); they are loaded lazily for each year that a calculation
touches and cached per year.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache

import holidays

from ostan_kit.text.persian import TEHRAN, as_utc, day_start

__all__ = ["DAY_RULE", "TEHRAN", "WEEKDAYS", "WorkingCalendar"]

WEEKDAYS = {
    "monday": 0,
    "tuesday": 1,
    "wednesday": 2,
    "thursday": 3,
    "friday": 4,
    "saturday": 5,
    "sunday": 6,
}
EXTRA_HOLIDAY_NAME = "Official closure"
# The authority of the day rule, as definitions and answers cite it.
DAY_RULE = (
    "unqualified «روز» is a calendar day counted as the Civil Procedure Law (1379) Arts. 443-445 count: "
    "the starting day not counted, a last day on which offices are closed moved to the next working day"
)

_DAY = timedelta(days=1)


@cache
def _official_holidays(year: int) -> dict[date, str]:
    """Iran's official holidays of one Gregorian year, with English names.

    A plain dict, so that looking a date up never makes the package populate further years behind
    our back; the cache is what makes loading lazy and per year.
    """
    return dict(holidays.country_holidays("IR", years=year, language="en_US"))


def _weekday_numbers(days: Iterable[str | int]) -> frozenset[int]:
    numbers = set()
    for day in days:
        if isinstance(day, int) and not isinstance(day, bool):
            if not 0 <= day <= 6:
                raise ValueError(f"weekday number out of range 0..6: {day}")
            numbers.add(day)
            continue
        if not isinstance(day, str):
            raise TypeError(f"weekend days are names or weekday numbers, not {type(day).__name__}")
        try:
            numbers.add(WEEKDAYS[day.strip().lower()])
        except KeyError:
            raise ValueError(f"unknown weekday name: {day!r} (expected one of {', '.join(WEEKDAYS)})") from None
    if len(numbers) == 7:
        raise ValueError("a weekend of all seven days leaves no working days")
    return frozenset(numbers)


@dataclass(frozen=True)
class WorkingCalendar:
    """Which Tehran days are working days, and working-time arithmetic over them.

    ``weekend`` holds Python weekday numbers (Monday is 0); names such as ``("thursday", "friday")``
    are accepted too and converted. ``extra_holidays`` adds one-off official closures to the
    package's holidays.
    """

    weekend: frozenset[int] = frozenset({WEEKDAYS["friday"]})
    extra_holidays: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        object.__setattr__(self, "weekend", _weekday_numbers(self.weekend))
        object.__setattr__(self, "extra_holidays", frozenset(self.extra_holidays))

    @classmethod
    def from_names(cls, weekend: Iterable[str], extra_holidays: Iterable[date] = ()) -> WorkingCalendar:
        """A calendar whose weekend is given by English day names, in any case.

        Raises ``ValueError`` naming the first unknown name.
        """
        return cls(weekend=_weekday_numbers(weekend), extra_holidays=frozenset(extra_holidays))

    def holiday_name(self, day: date) -> str | None:
        """The official holiday on ``day`` (Tehran date), or ``None``; weekends are not holidays."""
        name = _official_holidays(day.year).get(day)
        if name is None and day in self.extra_holidays:
            return EXTRA_HOLIDAY_NAME
        return name

    def is_working_day(self, day: date) -> bool:
        """Whether the office is open on ``day`` (a Tehran date)."""
        if day.weekday() in self.weekend or day in self.extra_holidays:
            return False
        return day not in _official_holidays(day.year)

    def add(self, start: datetime, working_days: float) -> datetime:
        """The UTC instant at which ``working_days`` of working time have passed since ``start``.

        If ``start`` falls on a closed day the count begins at 00:00 Tehran of the next working
        day. The result always lies within a working day: a count that ends exactly at midnight
        ends at the start of the next working day rather than on the closed days in between, which
        is the same amount of working time and keeps ``add(start, 0)`` a working instant.
        """
        if not math.isfinite(working_days) or working_days < 0:
            raise ValueError(f"working_days must be a finite number >= 0, not {working_days!r}")
        start = as_utc(start)
        day = start.astimezone(TEHRAN).date()
        if self.is_working_day(day):
            begin, end = day_start(day), day_start(day + _DAY)
            remaining = working_days + (start - begin) / (end - begin)
        else:
            day = self._next_working_day(day)
            remaining = float(working_days)
        while remaining >= 1:
            remaining -= 1
            day = self._next_working_day(day)
        begin, end = day_start(day), day_start(day + _DAY)
        result = begin + (end - begin) * remaining
        if result >= end:  # a fraction a hair under 1 rounds to the whole microsecond: midnight
            return day_start(self._next_working_day(day))
        return result

    def deadline(self, start: datetime, days: int) -> datetime:
        """The UTC instant a limit of ``days`` days from ``start`` ends, by the day rule (module
        docstring): the end of the ``days``-th Tehran day after the day of ``start``, moved to the
        end of the next working day when that day is closed."""
        if isinstance(days, bool) or not isinstance(days, int) or days < 1:
            raise ValueError(f"a limit in days is a whole number >= 1, not {days!r}")
        return self.day_end(as_utc(start).astimezone(TEHRAN).date() + timedelta(days=days))

    def day_end(self, day: date) -> datetime:
        """The UTC instant a limit whose last day is ``day`` (Tehran) ends: that day's midnight, or
        the next working day's when ``day`` is closed (Civil Procedure Law Art. 444)."""
        while not self.is_working_day(day):
            day += _DAY
        return day_start(day + _DAY)

    def elapsed(self, start: datetime, end: datetime) -> float:
        """Working days (with fractions) between two instants; 0 if ``end`` is not after ``start``."""
        start, end = as_utc(start), as_utc(end)
        if end <= start:
            return 0.0
        day = start.astimezone(TEHRAN).date()
        last = end.astimezone(TEHRAN).date()
        whole = 0
        fraction = 0.0
        while day <= last:
            if self.is_working_day(day):
                begin, finish = day_start(day), day_start(day + _DAY)
                lo, hi = max(begin, start), min(finish, end)
                if lo == begin and hi == finish:
                    whole += 1
                elif hi > lo:
                    fraction += (hi - lo) / (finish - begin)
            day += _DAY
        return whole + fraction

    def _next_working_day(self, day: date) -> date:
        day += _DAY
        while not self.is_working_day(day):
            day += _DAY
        return day
