from datetime import UTC, date, datetime, timedelta

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ostan_kit.text.workdays import TEHRAN, WorkingCalendar

FRIDAY = WorkingCalendar()
THURSDAY_FRIDAY = WorkingCalendar(weekend=("thursday", "friday"))
PACKAGE_2026 = holidays.country_holidays("IR", years=2026, language="en_US")


def tehran(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A Tehran wall-clock time as the UTC instant the calendar takes and returns."""
    return datetime(year, month, day, hour, minute, tzinfo=TEHRAN).astimezone(UTC)


def test_default_weekend_is_friday_and_names_become_weekday_numbers():
    assert FRIDAY.weekend == frozenset({4})
    assert THURSDAY_FRIDAY.weekend == frozenset({3, 4})
    assert WorkingCalendar.from_names(["Thursday", "FRIDAY"]) == THURSDAY_FRIDAY


def test_plain_week_with_friday_weekend():
    start = tehran(2026, 4, 18, 9, 30)  # Saturday; no holidays until 27 May
    assert start.weekday() == 5
    assert FRIDAY.add(start, 5) == tehran(2026, 4, 23, 9, 30)  # Thursday
    assert FRIDAY.add(start, 6) == tehran(2026, 4, 25, 9, 30)  # the next Saturday, Friday skipped
    assert FRIDAY.elapsed(start, tehran(2026, 4, 25, 9, 30)) == 6


def test_thursday_and_friday_weekend():
    start = tehran(2026, 4, 18, 9, 30)
    assert not THURSDAY_FRIDAY.is_working_day(date(2026, 4, 23))
    assert THURSDAY_FRIDAY.add(start, 4) == tehran(2026, 4, 22, 9, 30)  # Wednesday
    assert THURSDAY_FRIDAY.add(start, 5) == tehran(2026, 4, 25, 9, 30)  # Saturday
    assert THURSDAY_FRIDAY.elapsed(start, tehran(2026, 4, 25, 9, 30)) == 5


def test_days_are_tehran_days_of_24_hours_without_dst():
    start = tehran(2026, 6, 27)  # summer: Iran has kept +03:30 all year since 2022
    assert start == datetime(2026, 6, 26, 20, 30, tzinfo=UTC)
    assert FRIDAY.add(start, 1) - start == timedelta(hours=24)
    # A Friday in Tehran that is still Thursday evening in UTC is already closed.
    assert FRIDAY.elapsed(datetime(2026, 4, 23, 20, 30, tzinfo=UTC), datetime(2026, 4, 24, 20, 30, tzinfo=UTC)) == 0


def test_calendar_agrees_with_the_package_for_every_day_of_2026():
    day = date(2026, 1, 1)
    while day.year == 2026:
        assert FRIDAY.is_working_day(day) == (day.weekday() != 4 and day not in PACKAGE_2026)
        assert FRIDAY.holiday_name(day) == PACKAGE_2026.get(day)
        day += timedelta(days=1)


def test_crossing_nowruz_1405():
    nowruz = [date(2026, 3, 21) + timedelta(days=i) for i in range(4)]
    assert all("Nowruz" in PACKAGE_2026[day] for day in nowruz)
    assert date(2026, 3, 20) in PACKAGE_2026
    assert date(2026, 3, 25) not in PACKAGE_2026 and date(2026, 3, 26) not in PACKAGE_2026
    start = tehran(2026, 3, 18, 10)  # Wednesday
    # Thu 19th, then Fri 20th to Tue 24th closed, then Wed 25th and Thu 26th.
    assert FRIDAY.add(start, 3) == tehran(2026, 3, 26, 10)
    assert FRIDAY.elapsed(start, tehran(2026, 3, 26, 10)) == 3
    assert FRIDAY.elapsed(tehran(2026, 3, 20), tehran(2026, 3, 25)) == 0


def test_crossing_the_public_holidays_of_early_march_2026():
    week = [date(2026, 3, 1) + timedelta(days=i) for i in range(7)]
    assert all(PACKAGE_2026.get(day) == "Public Holiday" for day in week)
    start = tehran(2026, 2, 28, 12)  # Saturday
    assert FRIDAY.add(start, 1) == tehran(2026, 3, 8, 12)


def test_lunar_holidays_tasua_and_ashura():
    assert FRIDAY.holiday_name(date(2026, 6, 24)) == "Tasua"
    assert FRIDAY.holiday_name(date(2026, 6, 25)) == "Ashura"
    start = tehran(2026, 6, 23, 14)  # Tuesday; Wed and Thu are holidays, Fri the weekend
    assert FRIDAY.add(start, 1) == tehran(2026, 6, 27, 14)
    assert THURSDAY_FRIDAY.add(start, 1) == tehran(2026, 6, 27, 14)


def test_start_on_a_weekend_or_holiday_counts_from_the_next_working_morning():
    friday = tehran(2026, 4, 24, 15)
    assert FRIDAY.add(friday, 0) == tehran(2026, 4, 25)
    assert FRIDAY.add(friday, 0.5) == tehran(2026, 4, 25, 12)
    ashura = tehran(2026, 6, 25, 8)
    assert FRIDAY.add(ashura, 2) == tehran(2026, 6, 29)
    assert FRIDAY.elapsed(friday, tehran(2026, 4, 25, 6)) == 0.25


def test_a_count_ending_at_midnight_ends_on_the_next_working_day():
    assert FRIDAY.add(tehran(2026, 4, 23), 1) == tehran(2026, 4, 25)


def test_fractional_days_for_the_80_percent_warning():
    start = tehran(2026, 4, 18, 9)
    assert FRIDAY.add(start, 0.8 * 3) == tehran(2026, 4, 20, 18, 36)
    # Half of Thursday, Friday skipped, then 0.3 of Saturday.
    assert FRIDAY.add(tehran(2026, 4, 23, 12), 0.8) == tehran(2026, 4, 25, 7, 12)
    assert FRIDAY.elapsed(start, tehran(2026, 4, 20, 18, 36)) == pytest.approx(2.4)


def test_naive_input_is_utc_and_output_is_aware_utc():
    naive = datetime(2026, 4, 18, 6, 0)
    aware = datetime(2026, 4, 18, 6, 0, tzinfo=UTC)
    result = FRIDAY.add(naive, 1.5)
    assert result == FRIDAY.add(aware, 1.5) == FRIDAY.add(aware.astimezone(TEHRAN), 1.5)
    assert result.tzinfo is UTC
    assert FRIDAY.elapsed(naive, result) == FRIDAY.elapsed(aware, result) == 1.5


def test_elapsed_is_zero_when_end_is_not_after_start():
    start = tehran(2026, 4, 18, 9)
    assert FRIDAY.elapsed(start, start) == 0
    assert FRIDAY.elapsed(start, start - timedelta(days=3)) == 0


def test_extra_holidays_are_closed_and_named():
    closure = date(2026, 4, 20)
    calendar = WorkingCalendar.from_names(["friday"], extra_holidays=[closure])
    assert not calendar.is_working_day(closure)
    assert calendar.holiday_name(closure) == "Official closure"
    assert calendar.add(tehran(2026, 4, 19, 10), 1) == tehran(2026, 4, 21, 10)


def test_holidays_of_later_years_load_on_demand():
    assert FRIDAY.holiday_name(date(2031, 3, 21)) is not None
    assert not FRIDAY.is_working_day(date(2031, 3, 21))


def test_unknown_weekday_name_is_rejected_by_name():
    with pytest.raises(ValueError, match="funday"):
        WorkingCalendar.from_names(["friday", "funday"])
    with pytest.raises(ValueError, match="jomeh"):
        WorkingCalendar(weekend=("jomeh",))


def test_impossible_inputs_are_rejected():
    with pytest.raises(ValueError):
        WorkingCalendar(weekend=range(7))
    with pytest.raises(ValueError):
        FRIDAY.add(tehran(2026, 4, 18), -1)
    with pytest.raises(ValueError):
        FRIDAY.add(tehran(2026, 4, 18), float("nan"))


instants = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC))
amounts = st.floats(min_value=0, max_value=30, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(start=instants, first=amounts, second=amounts)
def test_elapsed_inverts_add_and_add_is_monotonic(start, first, second):
    for calendar in (FRIDAY, THURSDAY_FRIDAY):
        end = calendar.add(start, first)
        assert calendar.elapsed(start, end) == pytest.approx(first, abs=1e-6)
        assert calendar.is_working_day(end.astimezone(TEHRAN).date())
        low, high = sorted((first, second))
        assert calendar.add(start, low) <= calendar.add(start, high)


def test_a_fraction_a_hair_under_a_whole_day_still_ends_on_a_working_day():
    # Found by hypothesis: 4.9999999999999964 days rounds to midnight before a Thursday that a
    # Thursday-and-Friday weekend closes.
    calendar = WorkingCalendar.from_names(["thursday", "friday"])
    start = datetime(2026, 4, 1, 0, 0, tzinfo=UTC)
    end = calendar.add(start, 4.9999999999999964)
    assert calendar.is_working_day(end.astimezone(TEHRAN).date())
    assert abs(calendar.elapsed(start, end) - 5) < 1e-6


# -- the day rule: unqualified «روز» (Civil Procedure Law Arts. 443-445) ------------------------


def test_a_limit_in_days_ends_with_its_last_calendar_day_the_first_day_not_counted():
    start = tehran(2026, 4, 18, 9, 30)  # Saturday
    assert FRIDAY.deadline(start, 1) == tehran(2026, 4, 20)  # Sunday, the one day, ends at midnight
    assert FRIDAY.deadline(tehran(2026, 4, 18, 23, 59), 1) == tehran(2026, 4, 20)  # the hour does not matter
    assert FRIDAY.deadline(start, 5) == tehran(2026, 4, 24)  # Thursday: closed days inside are counted
    assert FRIDAY.deadline(start, 10) == tehran(2026, 4, 29)


def test_a_last_day_on_a_closed_day_moves_to_the_end_of_the_next_working_day():
    start = tehran(2026, 4, 18, 9, 30)
    assert FRIDAY.deadline(start, 6) == tehran(2026, 4, 26)  # Friday 04-24 → Saturday 04-25
    assert THURSDAY_FRIDAY.deadline(start, 5) == tehran(2026, 4, 26)  # Thursday and Friday closed
    # 1405's Nowruz: from Tuesday 03-17, 3 days end on Friday 03-20, a holiday, as are 03-21..24.
    assert FRIDAY.deadline(tehran(2026, 3, 17, 12), 3) == tehran(2026, 3, 26)


def test_a_limit_in_days_is_a_whole_number_of_days():
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError):
            FRIDAY.deadline(tehran(2026, 4, 18), bad)


@settings(max_examples=200)
@given(st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2030, 1, 1)), st.integers(1, 120))
def test_a_limit_in_days_never_ends_early_and_ends_at_a_working_days_end(naive_start, days):
    start = naive_start.replace(tzinfo=UTC)
    end = FRIDAY.deadline(start, days)
    last_day = (end - timedelta(seconds=1)).astimezone(TEHRAN).date()
    assert FRIDAY.is_working_day(last_day)
    assert end.astimezone(TEHRAN).time() == datetime.min.time()
    assert last_day >= start.astimezone(TEHRAN).date() + timedelta(days=days)
