"""Clinic time: working days, public holidays, closures and weekly slots, in the clinic's zone.

Moments going in and out are timezone-aware UTC datetimes; the arithmetic happens on the
clinic's wall clock, so "3 working days" and "Wednesday 07:00" mean what staff mean, across
weekends, holidays and daylight-saving changes. Nothing here reads the clock.
"""

from __future__ import annotations

import calendar as month_lengths
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

from pathways.durations import Duration
from pathways.model import Calendar, Slot

# A clinic is never closed this long; past it a schedule is a definition error, not a wait.
_LONGEST_CLOSURE = timedelta(days=366)
# When staff work, for simulated completions (the clinic's own hours are not modelled yet).
OPENS, CLOSES = time(8, 0), time(17, 0)


class CalendarError(Exception):
    """A schedule the calendar cannot satisfy (e.g. a slot on a day the clinic never opens)."""


class ClinicCalendar:
    """Answers scheduling questions for one clinic calendar definition."""

    def __init__(self, definition: Calendar) -> None:
        self.definition = definition
        self.zone = ZoneInfo(definition.timezone)
        self._working_days = definition.working_days
        self._holidays: dict[int, set[date]] = {}
        # Per year, every date the clinic is shut for (public holidays and closures), so a
        # day's question is one set lookup: due dates and waits ask it at every step.
        self._closed: dict[int, frozenset[date]] = {}

    def is_open(self, day: date) -> bool:
        """Whether the clinic works on this local date."""
        if day.weekday() not in self._working_days:
            return False
        closed = self._closed.get(day.year)
        if closed is None:
            closed = self._closed[day.year] = frozenset(
                self._holidays_of(day.year) | self.definition.closures
            )
        return day not in closed

    def holiday_name(self, day: date) -> str | None:
        """The public holiday or closure that shuts the clinic on a date, if any."""
        if day in self.definition.closures:
            return "clinic closure"
        if day not in self._holidays_of(day.year):
            return None
        country = self.definition.holiday_country
        assert country is not None
        names = holidays.country_holidays(
            country, subdiv=self.definition.holiday_subdivision, years=day.year
        )
        return str(names.get(day))

    def local(self, moment: datetime) -> datetime:
        """A UTC moment on the clinic's wall clock."""
        if moment.tzinfo is not UTC:  # UTC, as stored, is by far the most common
            moment = _aware(moment)
        return moment.astimezone(self.zone)

    def add_working_days(self, moment: datetime, count: int) -> datetime:
        """The same wall-clock time `count` working days later (0: the moment itself)."""
        if count < 0:
            raise ValueError("working days cannot be negative")
        local = self.local(moment)
        day = local.date()
        for _ in range(count):
            day = self.next_open_day(day)
        return self._at(day, local) if count else _aware(moment)

    def on_open_day(self, moment: datetime) -> datetime:
        """The moment itself if the clinic is open that day, else the same time next open day."""
        local = self.local(moment)
        day = local.date()
        if self.is_open(day):
            return moment if moment.tzinfo is UTC else moment.astimezone(UTC)
        return self._at(self.next_open_day(day), local)

    def in_working_hours(self, moment: datetime) -> datetime:
        """The moment, or the next one when the clinic is open and staff are working."""
        local = self.local(moment)
        day = local.date()
        if self.is_open(day) and OPENS <= local.time() < CLOSES:
            return _aware(moment)
        if not self.is_open(day) or local.time() >= CLOSES:
            day = self.next_open_day(day)
        return datetime.combine(day, OPENS, self.zone).astimezone(UTC)

    def next_open_day(self, after: date) -> date:
        """The first clinic day strictly after a date."""
        day = after + timedelta(days=1)
        while not self.is_open(day):
            day += timedelta(days=1)
            if day - after > _LONGEST_CLOSURE:
                raise CalendarError(f"calendar '{self.definition.id}' has no working day in a year")
        return day

    def add(self, moment: datetime, duration: Duration) -> datetime:
        """Calendar time: months and days on the wall clock, then hours as elapsed time."""
        local = self.local(moment)
        if not duration.months and not local.fold:
            # Whole days (every due date and wait of the shipped pathways): the same wall time
            # `days` later. Equal to the month arithmetic below with no months, without the
            # month lengths and the rebuilt datetime (tests/unit/test_calendar_fast_paths.py);
            # a moment in the repeated hour of a DST change (fold 1) takes the general path.
            due = (local + timedelta(duration.days)).astimezone(UTC)
            return due + timedelta(0, duration.seconds) if duration.seconds else due
        months = local.month - 1 + duration.months
        year, month = local.year + months // 12, months % 12 + 1
        day = min(local.day, month_lengths.monthrange(year, month)[1])
        shifted = date(year, month, day) + timedelta(days=duration.days)
        wall = self._at(shifted, local)
        return wall + timedelta(seconds=duration.seconds)

    def next_slot(self, moment: datetime, slot: Slot) -> datetime:
        """The first occurrence of a weekly slot after a moment, on a day the clinic is open."""
        local = self.local(moment)
        day = local.date()
        while True:
            if day.weekday() == slot.weekday and self.is_open(day):
                start = datetime.combine(day, slot.time, self.zone)
                if start > local:
                    return start.astimezone(UTC)
            day += timedelta(days=1)
            if day - local.date() > _LONGEST_CLOSURE:
                raise CalendarError(
                    f"slot '{slot.name}' of calendar '{self.definition.id}' never falls on an "
                    "open day"
                )

    def _at(self, day: date, wall: datetime) -> datetime:
        return datetime.combine(day, wall.timetz().replace(tzinfo=None), self.zone).astimezone(UTC)

    def _holidays_of(self, year: int) -> set[date]:
        if year not in self._holidays:
            country = self.definition.holiday_country
            self._holidays[year] = (
                set(
                    holidays.country_holidays(
                        country, subdiv=self.definition.holiday_subdivision, years=year
                    )
                )
                if country
                else set()
            )
        return self._holidays[year]


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("moments must carry a time zone (store UTC)")
    return moment.astimezone(UTC)
