"""Clinic time as staff count it: working days, holidays, closures, the weekly board, DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pathways.calendars import ClinicCalendar
from pathways.durations import Duration
from pathways.library import Library

TORONTO = ZoneInfo("America/Toronto")


@pytest.fixture(scope="module")
def clinic(library: Library) -> ClinicCalendar:
    return ClinicCalendar(library.calendars["clinic"])


def toronto(*args: int) -> datetime:
    return datetime(*args, tzinfo=TORONTO).astimezone(UTC)  # type: ignore[misc]


def test_three_working_days_over_the_christmas_closures_land_on_4_january(
    clinic: ClinicCalendar,
) -> None:
    # Dec 24 and 31 are clinic closures; Dec 25, 28 (Boxing Day observed) and Jan 1 are
    # Ontario holidays; the weekends do not count.
    due = clinic.add_working_days(toronto(2026, 12, 24, 10, 0), 3)
    assert clinic.local(due) == datetime(2027, 1, 4, 10, 0, tzinfo=TORONTO)


def test_ten_weekday_fractions_skip_canada_day(clinic: ClinicCalendar) -> None:
    first = toronto(2026, 6, 29, 9, 0)  # a Monday
    fractions = [first]
    for _ in range(9):
        fractions.append(clinic.add_working_days(fractions[-1], 1))
    days = [clinic.local(moment).date() for moment in fractions]
    assert date(2026, 7, 1) not in days
    assert days[-1] == date(2026, 7, 13)
    assert all(day.weekday() < 5 for day in days)


def test_a_case_ready_on_tuesday_waits_for_wednesday_07_00_board(
    clinic: ClinicCalendar,
) -> None:
    board = clinic.definition.slots["tumour_board"]
    assert clinic.local(clinic.next_slot(toronto(2026, 11, 24, 15, 0), board)) == datetime(
        2026, 11, 25, 7, 0, tzinfo=TORONTO
    )
    # Ready after the meeting started: the next week's board.
    assert clinic.local(clinic.next_slot(toronto(2026, 11, 25, 7, 30), board)) == datetime(
        2026, 12, 2, 7, 0, tzinfo=TORONTO
    )


def test_the_board_does_not_meet_on_a_holiday_wednesday(clinic: ClinicCalendar) -> None:
    board = clinic.definition.slots["tumour_board"]
    meeting = clinic.next_slot(toronto(2026, 6, 30, 12, 0), board)  # Canada Day is a Wednesday
    assert clinic.local(meeting).date() == date(2026, 7, 8)
    assert clinic.holiday_name(date(2026, 7, 1)) == "Canada Day"


def test_the_board_stays_at_07_00_on_the_wall_clock_across_daylight_saving(
    clinic: ClinicCalendar,
) -> None:
    board = clinic.definition.slots["tumour_board"]
    winter = clinic.next_slot(toronto(2026, 3, 3, 12, 0), board)
    summer = clinic.next_slot(toronto(2026, 3, 10, 12, 0), board)
    assert (winter.hour, summer.hour) == (12, 11)  # 07:00 EST, then 07:00 EDT, in UTC
    assert clinic.local(summer).hour == 7


def test_a_day_is_a_wall_clock_day_and_hours_are_elapsed_time(clinic: ClinicCalendar) -> None:
    before_dst = toronto(2026, 3, 7, 7, 0)
    assert clinic.local(clinic.add(before_dst, Duration(days=1))).hour == 7
    assert clinic.add(before_dst, Duration(seconds=24 * 3600)) - before_dst == timedelta(hours=24)


def test_a_month_from_31_january_is_the_end_of_february(clinic: ClinicCalendar) -> None:
    due = clinic.add(toronto(2026, 1, 31, 9, 0), Duration(months=1))
    assert clinic.local(due).date() == date(2026, 2, 28)


def test_moments_without_a_time_zone_are_refused(clinic: ClinicCalendar) -> None:
    with pytest.raises(ValueError, match="time zone"):
        clinic.add_working_days(datetime(2026, 1, 5, 9, 0), 1)


_moments = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2029, 12, 31), timezones=st.just(UTC)
)


@given(moment=_moments, count=st.integers(min_value=0, max_value=40))
def test_n_working_days_later_is_an_open_day_with_exactly_n_open_days_counted(
    clinic: ClinicCalendar, moment: datetime, count: int
) -> None:
    due = clinic.add_working_days(moment, count)
    start, end = clinic.local(moment).date(), clinic.local(due).date()
    counted = sum(
        clinic.is_open(start + timedelta(days=offset))
        for offset in range(1, (end - start).days + 1)
    )
    assert counted == count
    assert count == 0 or clinic.is_open(end)


@given(moment=_moments)
def test_the_next_board_is_the_first_open_wednesday_07_00_after_the_moment(
    clinic: ClinicCalendar, moment: datetime
) -> None:
    board = clinic.definition.slots["tumour_board"]
    meeting = clinic.local(clinic.next_slot(moment, board))
    assert meeting > moment
    assert (meeting.weekday(), meeting.hour, meeting.minute) == (2, 7, 0)
    assert clinic.is_open(meeting.date())
    day = clinic.local(moment).date()
    while day < meeting.date():
        candidate = datetime.combine(day, meeting.timetz())
        if day.weekday() == 2 and clinic.is_open(day):
            assert candidate <= moment
        day += timedelta(days=1)
