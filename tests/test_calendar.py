"""Tests of the working-day calendar (schedules/calendar.py).

The expected days off were checked against the government's announcements for
2024 and 2025 (Tết 08-14/02/2024 and 25/01-02/02/2025, 27/04-01/05/2024 with
29/04 swapped for Saturday 04/05, 30/04-04/05/2025 with 02/05 swapped for
Saturday 26/04, National Day 31/08-03/09/2024 and 30/08-02/09/2025).
"""

from __future__ import annotations

import functools
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schedules.calendar import EXTRA_HOLIDAY_NAME, WorkCalendar


@functools.cache
def shared_calendar() -> WorkCalendar:
    """One calendar for the property tests (hypothesis dislikes function fixtures)."""
    return WorkCalendar()


@pytest.fixture
def cal() -> WorkCalendar:
    return WorkCalendar()


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


# -- what the package knows -------------------------------------------------------

# Every Monday-Friday off in the year, as the holidays package (0.108) has it. A
# package upgrade that changes any of these should be noticed and checked.
WEEKDAYS_OFF = {
    2024: [
        date(2024, 1, 1),  # Tết Dương lịch
        date(2024, 2, 8),  # 29 Tết (Saturday 10/02, Tết day, moved to the previous workday)
        date(2024, 2, 9),  # Giao thừa
        date(2024, 2, 12),
        date(2024, 2, 13),
        date(2024, 2, 14),  # Sunday 11/02 moved to the next workday
        date(2024, 4, 18),  # Giỗ Tổ Hùng Vương
        date(2024, 4, 29),  # day off swapped with Saturday 04/05/2024
        date(2024, 4, 30),
        date(2024, 5, 1),
        date(2024, 9, 2),
        date(2024, 9, 3),  # National Day: 02/09 is a Monday, the second day is Tuesday
    ],
    2025: [
        date(2025, 1, 1),
        date(2025, 1, 27),  # 29 Tết (Saturday 01/02, Tết day, moved back)
        date(2025, 1, 28),
        date(2025, 1, 29),
        date(2025, 1, 30),
        date(2025, 1, 31),
        date(2025, 4, 7),  # Giỗ Tổ Hùng Vương
        date(2025, 4, 30),
        date(2025, 5, 1),
        date(2025, 5, 2),  # day off swapped with Saturday 26/04/2025
        date(2025, 9, 1),  # National Day: 02/09 is a Tuesday, the second day is Monday
        date(2025, 9, 2),
    ],
}

# Every Saturday/Sunday worked (make-up working days) the package knows in 2024-2026.
WEEKEND_WORKDAYS_2024_2026 = [date(2024, 5, 4), date(2025, 4, 26), date(2026, 8, 22)]


@pytest.mark.parametrize("year", sorted(WEEKDAYS_OFF))
def test_weekdays_off_match_the_package_snapshot(cal: WorkCalendar, year: int) -> None:
    off = [
        d
        for d in days(date(year, 1, 1), date(year, 12, 31))
        if d.weekday() < 5 and not cal.is_working_day(d)
    ]
    assert off == WEEKDAYS_OFF[year]
    assert all(cal.holiday_name(d) for d in off)


def test_make_up_saturdays_known_to_the_package(cal: WorkCalendar) -> None:
    worked = [
        d
        for d in days(date(2024, 1, 1), date(2026, 12, 31))
        if d.weekday() >= 5 and cal.is_working_day(d)
    ]
    assert worked == WEEKEND_WORKDAYS_2024_2026


def test_cross_year_swap_known_without_loading_the_other_year(cal: WorkCalendar) -> None:
    # 31/12/2018 off, swapped with Saturday 05/01/2019: the package records such
    # cross-year swaps when it is built, so 2019 alone gives the right answer.
    assert cal.is_working_day(date(2019, 1, 5))
    assert not cal.is_working_day(date(2018, 12, 31))


# -- weekends and holidays ----------------------------------------------------------


def test_weekends_are_off(cal: WorkCalendar) -> None:
    assert cal.is_working_day(date(2024, 11, 15))  # Friday
    assert not cal.is_working_day(date(2024, 11, 16))  # Saturday
    assert not cal.is_working_day(date(2024, 11, 17))  # Sunday
    assert cal.is_working_day(date(2024, 11, 18))  # Monday
    assert cal.holiday_name(date(2024, 11, 16)) is None  # a weekend is not a holiday


def test_national_day_2024(cal: WorkCalendar) -> None:
    assert cal.is_working_day(date(2024, 8, 30))  # Friday before
    assert not cal.is_working_day(date(2024, 9, 2))
    assert not cal.is_working_day(date(2024, 9, 3))
    assert cal.is_working_day(date(2024, 9, 4))
    assert cal.holiday_name(date(2024, 9, 2)) == "Quốc khánh"
    assert cal.holiday_name(date(2024, 9, 3)) == "Quốc khánh"


def test_national_day_2025(cal: WorkCalendar) -> None:
    assert cal.is_working_day(date(2025, 8, 29))  # Friday before
    assert not cal.is_working_day(date(2025, 9, 1))
    assert not cal.is_working_day(date(2025, 9, 2))
    assert cal.is_working_day(date(2025, 9, 3))


def test_tet_2024(cal: WorkCalendar) -> None:
    assert cal.is_working_day(date(2024, 2, 7))
    for d in days(date(2024, 2, 8), date(2024, 2, 14)):
        assert not cal.is_working_day(d), d
    assert cal.is_working_day(date(2024, 2, 15))
    assert cal.holiday_name(date(2024, 2, 10)) == "Tết Nguyên Đán"  # Saturday, still named
    assert cal.holiday_name(date(2024, 2, 8)) == "29 Tết"


def test_tet_2025(cal: WorkCalendar) -> None:
    assert cal.is_working_day(date(2025, 1, 24))  # Friday
    for d in days(date(2025, 1, 25), date(2025, 2, 2)):  # nine days off
        assert not cal.is_working_day(d), d
    assert cal.is_working_day(date(2025, 2, 3))
    assert cal.holiday_name(date(2025, 1, 29)) == "Tết Nguyên Đán"


def test_swapped_day_off_and_make_up_saturday_2024(cal: WorkCalendar) -> None:
    assert not cal.is_working_day(date(2024, 4, 29))  # Monday, off
    assert "04/05/2024" in (cal.holiday_name(date(2024, 4, 29)) or "")
    assert cal.is_working_day(date(2024, 5, 4))  # Saturday, worked
    assert cal.holiday_name(date(2024, 5, 4)) is None
    assert not cal.is_working_day(date(2024, 5, 5))  # Sunday after stays off


def test_swapped_day_off_and_make_up_saturday_2025(cal: WorkCalendar) -> None:
    assert cal.is_working_day(date(2025, 4, 26))  # Saturday, worked
    assert not cal.is_working_day(date(2025, 5, 2))
    assert "26/04/2025" in (cal.holiday_name(date(2025, 5, 2)) or "")


def test_names_are_vietnamese_whatever_the_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    # Unpinned, the package follows LANGUAGE/LANG and would answer in English.
    monkeypatch.setenv("LANGUAGE", "en_US")
    assert WorkCalendar().holiday_name(date(2025, 9, 2)) == "Quốc khánh"


# -- add_working_days -----------------------------------------------------------------


def test_add_working_days_across_tet_2024(cal: WorkCalendar) -> None:
    # 15/02/2024 is a Thursday. Walking back: 14 (Wed), 13 (Tue), 12 (Mon) are Tết
    # days off, 11 (Sun) and 10 (Sat) weekend and Tết, 09 (Fri, Giao thừa) and
    # 08 (Thu, 29 Tết) off; then 07 (Wed) is the 1st working day before, 06 (Tue)
    # the 2nd and 05 (Mon) the 3rd.
    assert cal.add_working_days(date(2024, 2, 15), -1) == date(2024, 2, 7)
    assert cal.add_working_days(date(2024, 2, 15), -3) == date(2024, 2, 5)
    # Forward from Wednesday 07/02: the next working day is Thursday 15/02.
    assert cal.add_working_days(date(2024, 2, 7), 1) == date(2024, 2, 15)
    # 05/02 + 3: 06 (1st), 07 (2nd), 15 (3rd).
    assert cal.add_working_days(date(2024, 2, 5), 3) == date(2024, 2, 15)


def test_add_working_days_across_tet_2025(cal: WorkCalendar) -> None:
    # Friday 24/01/2025, then nine days off (25/01-02/02): Monday 03/02 is next.
    assert cal.add_working_days(date(2025, 1, 24), 1) == date(2025, 2, 3)
    assert cal.add_working_days(date(2025, 2, 3), -1) == date(2025, 1, 24)


def test_add_working_days_counts_the_make_up_saturday(cal: WorkCalendar) -> None:
    # Friday 26/04/2024 -> (27 Sat, 28 Sun, 29-30/04, 01/05 off) Thursday 02/05,
    # Friday 03/05, Saturday 04/05 (worked), Monday 06/05.
    assert cal.add_working_days(date(2024, 4, 26), 1) == date(2024, 5, 2)
    assert cal.add_working_days(date(2024, 4, 26), 3) == date(2024, 5, 4)
    assert cal.add_working_days(date(2024, 4, 26), 4) == date(2024, 5, 6)
    assert cal.add_working_days(date(2024, 5, 6), -1) == date(2024, 5, 4)


def test_add_working_days_negative_and_zero(cal: WorkCalendar) -> None:
    monday = date(2024, 11, 18)
    assert cal.add_working_days(monday, -1) == date(2024, 11, 15)  # the Friday before
    assert cal.add_working_days(monday, -5) == date(2024, 11, 11)
    assert cal.add_working_days(monday, 0) == monday
    saturday = date(2024, 11, 16)
    assert cal.add_working_days(saturday, 0) == saturday  # n == 0 is the day itself
    assert cal.add_working_days(saturday, 1) == monday
    assert cal.add_working_days(saturday, -1) == date(2024, 11, 15)


def test_add_working_days_across_the_new_year(cal: WorkCalendar) -> None:
    # Tuesday 31/12/2024, then 01/01/2025 (Wednesday) is a holiday.
    assert cal.add_working_days(date(2024, 12, 31), 1) == date(2025, 1, 2)
    assert cal.add_working_days(date(2025, 1, 2), -1) == date(2024, 12, 31)


def test_next_working_day(cal: WorkCalendar) -> None:
    assert cal.next_working_day(date(2024, 2, 8)) == date(2024, 2, 15)
    assert cal.next_working_day(date(2024, 2, 7)) == date(2024, 2, 7)
    assert cal.next_working_day(date(2024, 2, 7), include_self=False) == date(2024, 2, 15)
    assert cal.next_working_day(date(2024, 5, 4)) == date(2024, 5, 4)  # make-up Saturday


# -- working_days_between ---------------------------------------------------------------


def test_working_days_between(cal: WorkCalendar) -> None:
    # (05/02, 15/02/2024]: 06, 07 and 15.
    assert cal.working_days_between(date(2024, 2, 5), date(2024, 2, 15)) == 3
    assert cal.working_days_between(date(2024, 2, 15), date(2024, 2, 5)) == -3
    assert cal.working_days_between(date(2024, 2, 15), date(2024, 2, 15)) == 0
    # Across Tết, from a day off: (08/02, 15/02] holds only 15/02.
    assert cal.working_days_between(date(2024, 2, 8), date(2024, 2, 15)) == 1
    assert cal.working_days_between(date(2024, 2, 15), date(2024, 2, 8)) == -1
    # An ordinary week: (Friday, next Friday] = 5.
    assert cal.working_days_between(date(2024, 11, 15), date(2024, 11, 22)) == 5


def test_working_days_between_includes_the_make_up_saturday(cal: WorkCalendar) -> None:
    # (26/04, 06/05/2024]: 02, 03, 04 (Saturday worked), 06.
    assert cal.working_days_between(date(2024, 4, 26), date(2024, 5, 6)) == 4


# -- the office's own decisions ---------------------------------------------------------


def test_extra_holidays() -> None:
    thursday = date(2024, 10, 10)
    cal = WorkCalendar(extra_holidays=[thursday])
    assert not cal.is_working_day(thursday)
    assert cal.holiday_name(thursday) == EXTRA_HOLIDAY_NAME
    assert cal.add_working_days(date(2024, 10, 9), 1) == date(2024, 10, 11)
    assert cal.working_days_between(date(2024, 10, 9), date(2024, 10, 11)) == 1
    # The package's own holidays are still there.
    assert not cal.is_working_day(date(2024, 9, 2))
    assert WorkCalendar().is_working_day(thursday)  # other calendars are untouched


def test_extra_holidays_with_names() -> None:
    cal = WorkCalendar(extra_holidays={date(2030, 3, 5): "Nghỉ bù theo Quyết định 12/QĐ-UBND"})
    assert not cal.is_working_day(date(2030, 3, 5))
    assert cal.holiday_name(date(2030, 3, 5)) == "Nghỉ bù theo Quyết định 12/QĐ-UBND"


def test_extra_workdays() -> None:
    saturday = date(2024, 10, 12)
    cal = WorkCalendar(extra_workdays=iter([saturday]))  # any iterable, consumed once
    assert cal.is_working_day(saturday)
    assert cal.add_working_days(date(2024, 10, 11), 1) == saturday
    assert cal.working_days_between(date(2024, 10, 11), date(2024, 10, 14)) == 2


def test_extras_can_reverse_a_swap_of_the_package() -> None:
    # A province keeps 29/04/2024 as a working day and does not work Saturday 04/05.
    cal = WorkCalendar(extra_workdays=[date(2024, 4, 29)], extra_holidays=[date(2024, 5, 4)])
    assert cal.is_working_day(date(2024, 4, 29))
    assert cal.holiday_name(date(2024, 4, 29)) is None
    assert not cal.is_working_day(date(2024, 5, 4))
    assert cal.add_working_days(date(2024, 4, 26), 1) == date(2024, 4, 29)
    assert cal.add_working_days(date(2024, 5, 3), 1) == date(2024, 5, 6)


def test_extra_workday_on_a_weekend_holiday() -> None:
    # Saturday 10/02/2024 is Tết itself; an explicit working day wins.
    cal = WorkCalendar(extra_workdays=[date(2024, 2, 10)])
    assert cal.is_working_day(date(2024, 2, 10))
    assert cal.holiday_name(date(2024, 2, 10)) is None


def test_extra_dates_in_both_lists_are_refused() -> None:
    with pytest.raises(ValueError, match="2024-10-10"):
        WorkCalendar(extra_holidays=[date(2024, 10, 10)], extra_workdays=[date(2024, 10, 10)])


def test_datetimes_are_refused(cal: WorkCalendar) -> None:
    # A UTC instant must be turned into a local day by the caller.
    with pytest.raises(TypeError):
        cal.is_working_day(datetime(2024, 2, 8, 20, 0))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        WorkCalendar(extra_workdays=[datetime(2024, 2, 8)])


# -- loading years ---------------------------------------------------------------------


def test_years_load_on_demand_including_far_future() -> None:
    cal = WorkCalendar()
    assert cal.loaded_years == frozenset()  # nothing built up front
    assert cal.is_working_day(date(2024, 2, 7))
    assert cal.loaded_years == {2024}
    # Past the package's end year (2100) only weekends are off.
    assert cal.is_working_day(date(2150, 1, 1))  # Thursday
    assert not cal.is_working_day(date(2150, 1, 4))  # Sunday
    assert cal.holiday_name(date(2150, 1, 1)) is None
    assert cal.add_working_days(date(2150, 1, 2), 1) == date(2150, 1, 5)  # Friday -> Monday
    # Far-future years still have the rule-based holidays up to 2100.
    assert not cal.is_working_day(date(2099, 9, 2))  # National Day, a Wednesday
    assert cal.loaded_years == {2024, 2099, 2150}


def test_many_calls_do_not_rebuild_the_holiday_table(monkeypatch: pytest.MonkeyPatch) -> None:
    cal = WorkCalendar()
    built: list[int] = []
    table = cal._holidays
    original = table._populate

    def counting_populate(year: int) -> None:
        built.append(year)
        original(year)

    # The package populates one year through this hook when it expands.
    monkeypatch.setattr(table, "_populate", counting_populate)

    start = date(2024, 1, 1)
    for i in range(10_000):
        d = start + timedelta(days=i % 700)  # 2024 and most of 2025
        cal.is_working_day(d)
        cal.add_working_days(d, (i % 7) - 3)
    # Each year was built exactly once (add_working_days near the end of 2025 may
    # peek into 2026); nothing was rebuilt.
    assert sorted(built) == sorted(set(built))
    assert {2024, 2025} <= set(built) <= {2023, 2024, 2025, 2026}
    assert cal.loaded_years == set(built)


# -- properties ---------------------------------------------------------------------------

dates = st.dates(min_value=date(1990, 1, 1), max_value=date(2200, 12, 31))


@settings(max_examples=300, deadline=None)
@given(d=dates, n=st.integers(min_value=-30, max_value=30))
def test_property_add_then_count(d: date, n: int) -> None:
    cal = shared_calendar()
    result = cal.add_working_days(d, n)
    if n != 0:
        assert cal.is_working_day(result)
        assert (result > d) == (n > 0)
    else:
        assert result == d
    if cal.is_working_day(d):
        assert cal.working_days_between(d, result) == n


@settings(max_examples=200, deadline=None)
@given(a=dates, offset=st.integers(min_value=-800, max_value=800))
def test_property_between_is_antisymmetric(a: date, offset: int) -> None:
    cal = shared_calendar()
    b = a + timedelta(days=offset)
    assert cal.working_days_between(a, b) == -cal.working_days_between(b, a)
    # Splitting the range at any point adds up.
    mid = a + timedelta(days=offset // 2)
    assert cal.working_days_between(a, b) == (
        cal.working_days_between(a, mid) + cal.working_days_between(mid, b)
    )
