"""The calendar's fast paths give exactly what the plain day-by-day arithmetic gives.

`ClinicCalendar` answers due dates through shortcuts (whole days added on the wall clock
without month arithmetic, closed days looked up in a per-year set, UTC moments converted
once). The reference below is the arithmetic as first written, kept here as the oracle: for
random clinics (time zones with odd daylight-saving rules, working weeks, public holidays,
closures), moments (any zone, the repeated and the skipped hour included) and durations,
both must give the same instant, in UTC, or fail the same way.
"""

from __future__ import annotations

import calendar as month_lengths
from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pathways.calendars import ClinicCalendar
from pathways.durations import Duration
from pathways.model import Calendar

# Toronto (the clinic), a southern-hemisphere rule, a 30-minute change (Lord Howe), changes
# at midnight (Havana, Santiago), a skipped calendar day (Apia, 30 December 2011), Kathmandu
# (+05:45, no DST), London, and UTC itself.
ZONES = [
    "America/Toronto",
    "America/Sao_Paulo",
    "Australia/Lord_Howe",
    "America/Havana",
    "America/Santiago",
    "Pacific/Apia",
    "Asia/Kathmandu",
    "Europe/London",
    "UTC",
]
HOLIDAYS = [(None, None), ("CA", "ON"), ("GB", None), ("BR", None)]


@cache
def _public_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year))


def reference_is_open(definition: Calendar, day: date) -> bool:
    country = definition.holiday_country
    public = _public_holidays(country, definition.holiday_subdivision, day.year) if country else ()
    return (
        day.weekday() in definition.working_days
        and day not in definition.closures
        and day not in public
    )


def _reference_local(zone: ZoneInfo, moment: datetime) -> datetime:
    return moment.astimezone(UTC).astimezone(zone)


def _reference_at(zone: ZoneInfo, day: date, wall: datetime) -> datetime:
    return datetime.combine(day, wall.timetz().replace(tzinfo=None), zone).astimezone(UTC)


def reference_add(definition: Calendar, moment: datetime, duration: Duration) -> datetime:
    zone = ZoneInfo(definition.timezone)
    local = _reference_local(zone, moment)
    months = local.month - 1 + duration.months
    year, month = local.year + months // 12, months % 12 + 1
    day = min(local.day, month_lengths.monthrange(year, month)[1])
    shifted = date(year, month, day) + timedelta(days=duration.days)
    return _reference_at(zone, shifted, local) + timedelta(seconds=duration.seconds)


def reference_on_open_day(definition: Calendar, moment: datetime) -> datetime:
    zone = ZoneInfo(definition.timezone)
    local = _reference_local(zone, moment)
    day = local.date()
    if reference_is_open(definition, day):
        return moment.astimezone(UTC)
    day += timedelta(days=1)
    while not reference_is_open(definition, day):
        day += timedelta(days=1)
    return _reference_at(zone, day, local)


def reference_add_working_days(definition: Calendar, moment: datetime, count: int) -> datetime:
    zone = ZoneInfo(definition.timezone)
    local = _reference_local(zone, moment)
    day = local.date()
    for _ in range(count):
        day += timedelta(days=1)
        while not reference_is_open(definition, day):
            day += timedelta(days=1)
    return _reference_at(zone, day, local) if count else moment.astimezone(UTC)


@st.composite
def clinics(draw: st.DrawFn) -> Calendar:
    country, subdivision = draw(st.sampled_from(HOLIDAYS))
    return Calendar(
        id="random",
        file="random.yaml",
        title="A random clinic",
        timezone=draw(st.sampled_from(ZONES)),
        working_days=frozenset(draw(st.sets(st.integers(0, 6), min_size=1))),
        holiday_country=country,
        holiday_subdivision=subdivision,
        closures=frozenset(
            draw(st.sets(st.dates(date(2010, 1, 1), date(2031, 12, 31)), max_size=12))
        ),
    )


# Any moment 2010-2030, in any of the zones: UTC as stored, and local times as a caller might
# pass them, the repeated hour (fold) and the skipped one included.
moments = st.datetimes(
    min_value=datetime(2010, 1, 1),
    max_value=datetime(2030, 12, 31),
    timezones=st.sampled_from([UTC, *(ZoneInfo(zone) for zone in ZONES)]),
)
durations = st.builds(
    Duration,
    months=st.one_of(st.just(0), st.integers(0, 14)),
    days=st.integers(0, 400),
    seconds=st.one_of(st.just(0), st.integers(0, 3 * 86_400)),
)


def _same(found: datetime, expected: datetime) -> None:
    assert found == expected
    assert found.tzinfo is UTC and expected.tzinfo is UTC
    assert (found.fold, found.isoformat()) == (expected.fold, expected.isoformat())


@settings(max_examples=300, deadline=None)
@given(definition=clinics(), moment=moments, duration=durations)
def test_a_duration_added_on_the_clinic_calendar_equals_the_month_arithmetic(
    definition: Calendar, moment: datetime, duration: Duration
) -> None:
    clinic = ClinicCalendar(definition)
    _same(clinic.add(moment, duration), reference_add(definition, moment, duration))


@settings(max_examples=300, deadline=None)
@given(definition=clinics(), moment=moments, duration=durations)
def test_a_task_due_date_moved_to_an_open_day_equals_the_day_by_day_search(
    definition: Calendar, moment: datetime, duration: Duration
) -> None:
    clinic = ClinicCalendar(definition)
    due = clinic.on_open_day(clinic.add(moment, duration))
    _same(due, reference_on_open_day(definition, reference_add(definition, moment, duration)))
    _same(clinic.on_open_day(moment), reference_on_open_day(definition, moment))


@settings(max_examples=200, deadline=None)
@given(definition=clinics(), moment=moments, count=st.integers(0, 30))
def test_working_days_added_equal_the_day_by_day_count(
    definition: Calendar, moment: datetime, count: int
) -> None:
    clinic = ClinicCalendar(definition)
    _same(
        clinic.add_working_days(moment, count),
        reference_add_working_days(definition, moment, count),
    )


@settings(max_examples=100, deadline=None)
@given(definition=clinics(), first=st.dates(date(2010, 1, 1), date(2030, 12, 1)))
def test_the_open_days_of_a_month_are_the_working_days_without_holidays_or_closures(
    definition: Calendar, first: date
) -> None:
    clinic = ClinicCalendar(definition)
    days = [first + timedelta(days=offset) for offset in range(31)]
    assert [clinic.is_open(day) for day in days] == [
        reference_is_open(definition, day) for day in days
    ]


TORONTO = ZoneInfo("America/Toronto")
TORONTO_CLINIC = Calendar("clinic", "c.yaml", "Clinic", "America/Toronto", frozenset(range(5)))


@pytest.mark.parametrize("days", [1, 371])
@pytest.mark.parametrize("fold", [0, 1])
def test_a_wall_time_that_happens_twice_keeps_its_fold_a_whole_number_of_days_later(
    fold: int, days: int
) -> None:
    # 1 November 2026, Toronto: 01:30 happens twice (fold 0 in EDT, then fold 1 in EST).
    # 371 days later, 7 November 2027, it happens twice again: the same one is meant.
    clinic = ClinicCalendar(TORONTO_CLINIC)
    moment = datetime(2026, 11, 1, 1, 30, tzinfo=TORONTO, fold=fold).astimezone(UTC)
    due = clinic.add(moment, Duration(days=days))
    _same(due, reference_add(TORONTO_CLINIC, moment, Duration(days=days)))
    wall = clinic.local(due)
    assert wall.replace(tzinfo=None) == datetime(2026, 11, 1, 1, 30) + timedelta(days=days)
    assert wall.fold == (fold if days == 371 else 0)  # only an ambiguous time has a fold


def test_a_skipped_wall_time_given_in_the_clinic_zone_reads_as_the_instant_it_names() -> None:
    # 02:30 on 8 March 2026 never happens in Toronto; given with the clinic's own zone it
    # means 07:30 UTC, 03:30 EDT, exactly as if it had been stored in UTC first.
    clinic = ClinicCalendar(TORONTO_CLINIC)
    skipped = datetime(2026, 3, 8, 2, 30, tzinfo=TORONTO)
    assert clinic.local(skipped).replace(tzinfo=None) == datetime(2026, 3, 8, 3, 30)
    _same(
        clinic.add(skipped, Duration(days=1)),
        reference_add(TORONTO_CLINIC, skipped, Duration(days=1)),
    )
    _same(clinic.on_open_day(skipped), reference_on_open_day(TORONTO_CLINIC, skipped))
