"""What one event changes: the root state, the moment, the effects; and due-date arithmetic.

Below both `running` (moving tokens) and `holds` (pausing them), so neither imports the other
for it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pathways.runtime.effects import Effect
from pathways.runtime.state import State, iso, moment


class Changes:
    """The root state, the moment, and the effects collected while one event is applied."""

    def __init__(self, root: State, now: datetime) -> None:
        self.root = root
        self.now = now
        self.effects: list[Effect] = []
        self._stamp = ""

    @property
    def stamp(self) -> str:
        """`now` as stored in state, formatted once: every task and wait opened records it."""
        if not self._stamp:
            self._stamp = iso(self.now)
        return self._stamp

    def new_id(self, prefix: str) -> str:
        """A deterministic id, unique within the enrollment."""
        self.root["seq"] += 1
        return f"{prefix}{self.root['seq']}"


def remaining(instance: dict[str, Any], now: datetime) -> int:
    """Seconds left before an instance's due date; negative when it is already overdue."""
    return int((moment(instance["due"]) - now).total_seconds())


def shifted(now: datetime, seconds: int) -> datetime:
    """A due date `seconds` after now, in UTC."""
    return (now + timedelta(seconds=seconds)).astimezone(UTC)
