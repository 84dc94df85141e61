"""Durations in definitions: ISO 8601 (calendar time) or a count of working days."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Up to 12 digits a part: enough for any duration below the longest, and int() stays cheap.
_ISO = re.compile(
    r"^P(?!$)(?:(?P<years>\d{1,12})Y)?(?:(?P<months>\d{1,12})M)?(?:(?P<weeks>\d{1,12})W)?"
    r"(?:(?P<days>\d{1,12})D)?(?:T(?=\d)(?:(?P<hours>\d{1,12})H)?(?:(?P<minutes>\d{1,12})M)?"
    r"(?:(?P<seconds>\d{1,12})S)?)?$"
)

# No part of a duration may exceed a century: due dates and timers stay within the calendar
# (a P99999999Y would overflow every date it is added to).
LONGEST_YEARS = 100
LONGEST = f"P{LONGEST_YEARS}Y"
_MOST_MONTHS = LONGEST_YEARS * 12
_MOST_DAYS = LONGEST_YEARS * 366
_MOST_SECONDS = _MOST_DAYS * 86_400

DURATION_HINT = (
    "write an ISO 8601 duration such as PT24H, P3D, P2W or P3M (at most "
    f"{LONGEST_YEARS} years, {LONGEST}), or {{working_days: 3}}"
)


@dataclass(frozen=True)
class Duration:
    """Calendar time: months (calendar months), days and seconds."""

    months: int = 0
    days: int = 0
    seconds: int = 0

    def iso(self) -> str:
        """The duration written back in ISO 8601."""
        text = "P"
        if self.months:
            text += f"{self.months}M"
        if self.days:
            text += f"{self.days}D"
        if self.seconds:
            hours, rest = divmod(self.seconds, 3600)
            minutes, seconds = divmod(rest, 60)
            text += "T" + "".join(
                f"{value}{unit}"
                for value, unit in ((hours, "H"), (minutes, "M"), (seconds, "S"))
                if value
            )
        return text if text != "P" else "PT0S"


@dataclass(frozen=True)
class WorkingDays:
    """A count of the calendar's working days (a literal or an integer parameter)."""

    count: int | str


@dataclass(frozen=True)
class DurationParameter:
    """The value of a duration parameter, set at enrolment."""

    name: str


DurationSpec = Duration | WorkingDays | DurationParameter


def parse_iso(text: str) -> Duration | None:
    """Parse an ISO 8601 duration (integers only); None when it is not one or too long."""
    match = _ISO.match(text.strip())
    if not match:
        return None
    part = {name: int(value) if value else 0 for name, value in match.groupdict().items()}
    duration = Duration(
        months=part["years"] * 12 + part["months"],
        days=part["weeks"] * 7 + part["days"],
        seconds=part["hours"] * 3600 + part["minutes"] * 60 + part["seconds"],
    )
    return None if too_long(duration) else duration


def too_long(duration: Duration) -> bool:
    """Whether any part of the duration is longer than LONGEST (100 years)."""
    return (
        duration.months > _MOST_MONTHS
        or duration.days > _MOST_DAYS
        or duration.seconds > _MOST_SECONDS
    )
