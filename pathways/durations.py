"""Durations in definitions: ISO 8601 (calendar time) or a count of working days."""

from __future__ import annotations

import re
from dataclasses import dataclass

_ISO = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)

DURATION_HINT = "write an ISO 8601 duration such as PT24H, P3D, P2W or P3M, or {working_days: 3}"


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
    """Parse an ISO 8601 duration (integers only); None when the text is not one."""
    match = _ISO.match(text.strip())
    if not match:
        return None
    part = {name: int(value) if value else 0 for name, value in match.groupdict().items()}
    return Duration(
        months=part["years"] * 12 + part["months"],
        days=part["weeks"] * 7 + part["days"],
        seconds=part["hours"] * 3600 + part["minutes"] * 60 + part["seconds"],
    )
