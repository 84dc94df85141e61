"""Engine events as stored rows: the event log's `type` and `data` both ways."""

from __future__ import annotations

from typing import Any

from pathways.runtime.events import (
    AdverseEventReported,
    DataRecorded,
    Event,
    EventRejected,
    HoldRequested,
    PathwayEventOccurred,
    ResultRecorded,
    ResumeRequested,
    TaskCompleted,
    TaskSkipped,
    TimerFired,
    WithdrawalRequested,
)

# Stored type -> (engine event, the data keys it takes)
EVENT_TYPES: dict[str, tuple[type, tuple[str, ...]]] = {
    "task_completed": (TaskCompleted, ("task", "data")),
    "task_skipped": (TaskSkipped, ("task", "reason")),
    "timer_fired": (TimerFired, ("timer",)),
    "data_recorded": (DataRecorded, ("step", "data", "reason")),
    "lab_result": (ResultRecorded, ("data",)),
    "imaging_result": (ResultRecorded, ("data",)),
    "adverse_event": (AdverseEventReported, ("term", "grade")),
    "hold": (HoldRequested, ("reason",)),
    "resume": (ResumeRequested, ("reason",)),
    "withdraw": (WithdrawalRequested, ("reason",)),
}
ENROLLED = "enrolled"


def engine_event(event_type: str, data: dict[str, Any]) -> Event:
    """The engine event a stored row stands for; EventRejected when it cannot be one."""
    if event_type in ("lab_result", "imaging_result"):
        return ResultRecorded(event_type, dict(data))
    if event_type not in EVENT_TYPES:
        # a pathway's own declared event, e.g. surgical_complication
        return PathwayEventOccurred(event_type, dict(data))
    kind, keys = EVENT_TYPES[event_type]
    missing = [key for key in keys if key not in data]
    extra = sorted(set(data) - set(keys))
    if missing or extra:
        wanted = ", ".join(keys)
        raise EventRejected(
            f"a {event_type} event takes {wanted}"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; unexpected {', '.join(extra)}" if extra else "")
        )
    values = {key: data[key] for key in keys}
    if event_type == "adverse_event" and not isinstance(values["grade"], int):
        raise EventRejected("the grade of an adverse event is an integer, 1 to 5")
    event: Event = kind(**values)
    return event
