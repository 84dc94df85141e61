"""Holding an enrollment pauses its due dates and timers; resuming shifts what is left."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

from pathways.runtime.changes import Changes, remaining, shifted
from pathways.runtime.definition import Definition
from pathways.runtime.effects import (
    CancelTimer,
    EnrollmentChanged,
    ScheduleTimer,
    UpdateTask,
)
from pathways.runtime.state import Frame, iso


class Holdable(Protocol):
    """What holding needs of a running pathway (`running.RunningPathway` is one).

    A protocol rather than an import: `running` holds an enrollment when a decision lacks
    data, so `holds` must not import `running` back."""

    @property
    def definition(self) -> Definition: ...

    @property
    def frame(self) -> Frame: ...

    @property
    def changes(self) -> Changes: ...

    def every_frame(self) -> Iterator[Holdable]:
        """This frame and every sub-pathway below it, outermost first."""
        ...

    def reenter_stuck(self) -> None:
        """After a resume, try again every decision that lacked data."""
        ...


def add_hold(top: Holdable, by: str, reason: str, task: str | None) -> None:
    """Hold the enrollment (by a navigator, a handler awaiting review, or missing data)."""
    changes = top.changes
    root = changes.root
    root["holds"].append(
        {
            "id": changes.new_id("H"),
            "by": by,
            "reason": reason,
            "task": task,
            "since": changes.stamp,
        }
    )
    if root["status"] == "active":
        root["status"] = "on_hold"
        _pause(top)
        changes.effects.append(EnrollmentChanged("on_hold", reason=reason))


def release(top: Holdable, which: Callable[[dict[str, Any]], bool], reason: str) -> None:
    """Lift the holds `which` selects; when none is left, resume."""
    root = top.changes.root
    root["holds"] = [hold for hold in root["holds"] if not which(hold)]
    if not root["holds"] and root["status"] == "on_hold":
        _resume(top, reason)


def _pause(top: Holdable) -> None:
    changes = top.changes
    for running in top.every_frame():
        for instance in running.frame["active"].values():
            if "due" not in instance:
                continue
            instance["remaining"] = remaining(instance, changes.now)
            if "task" in instance:
                changes.effects.append(UpdateTask(instance["task"], "on-hold"))
            elif instance.get("timer"):
                changes.effects.append(CancelTimer(instance["timer"]))
                instance["timer"] = None


def _resume(top: Holdable, reason: str) -> None:
    changes = top.changes
    changes.root["status"] = "active"
    changes.effects.append(EnrollmentChanged("active", reason=reason))
    for running in list(top.every_frame()):
        for state_id, instance in running.frame["active"].items():
            if "remaining" not in instance:
                continue
            due = shifted(changes.now, instance.pop("remaining"))
            if "task" in instance:
                due = running.definition.calendar.on_open_day(due)
            instance["due"] = iso(due)
            if "task" in instance:
                changes.effects.append(UpdateTask(instance["task"], "ready", due))
            else:
                instance["timer"] = changes.new_id("W")
                changes.effects.append(ScheduleTimer(instance["timer"], state_id, due))
    for running in list(top.every_frame()):
        running.reenter_stuck()
