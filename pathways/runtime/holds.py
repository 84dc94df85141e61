"""Holding an enrollment pauses its due dates and timers; resuming shifts what is left."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pathways.runtime.effects import (
    CancelTimer,
    EnrollmentChanged,
    ScheduleTimer,
    UpdateTask,
)
from pathways.runtime.running import RunningPathway, remaining, shifted
from pathways.runtime.state import iso


def add_hold(top: RunningPathway, by: str, reason: str, task: str | None) -> None:
    """Hold the enrollment (by a navigator, a handler awaiting review, or missing data)."""
    changes = top.changes
    root = changes.root
    root["holds"].append(
        {
            "id": changes.new_id("H"),
            "by": by,
            "reason": reason,
            "task": task,
            "since": iso(changes.now),
        }
    )
    if root["status"] == "active":
        root["status"] = "on_hold"
        _pause(top)
        changes.effects.append(EnrollmentChanged("on_hold", reason=reason))


def release(top: RunningPathway, which: Callable[[dict[str, Any]], bool], reason: str) -> None:
    """Lift the holds `which` selects; when none is left, resume."""
    root = top.changes.root
    root["holds"] = [hold for hold in root["holds"] if not which(hold)]
    if not root["holds"] and root["status"] == "on_hold":
        _resume(top, reason)


def _pause(top: RunningPathway) -> None:
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


def _resume(top: RunningPathway, reason: str) -> None:
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
