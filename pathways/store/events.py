"""Engine events as stored rows: the event log's `type` and `data` both ways."""

from __future__ import annotations

from typing import Any

from pathways.runtime.admission import EVENT_KEYS, grade_problem, shape_problem
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

# Stored type -> the engine event it stands for (the data keys: admission.EVENT_KEYS)
EVENT_TYPES: dict[str, type] = {
    "task_completed": TaskCompleted,
    "task_skipped": TaskSkipped,
    "timer_fired": TimerFired,
    "data_recorded": DataRecorded,
    "lab_result": ResultRecorded,
    "imaging_result": ResultRecorded,
    "adverse_event": AdverseEventReported,
    "hold": HoldRequested,
    "resume": ResumeRequested,
    "withdraw": WithdrawalRequested,
}
ENROLLED = "enrolled"


def engine_event(event_type: str, data: dict[str, Any]) -> Event:
    """The engine event a stored row stands for; EventRejected when it cannot be one."""
    if event_type in ("lab_result", "imaging_result"):
        return ResultRecorded(event_type, dict(data))
    if event_type not in EVENT_TYPES:
        # a pathway's own declared event, e.g. surgical_complication
        return PathwayEventOccurred(event_type, dict(data))
    shape = shape_problem(event_type, data)
    if shape:
        raise EventRejected(shape)
    values = {key: data[key] for key in EVENT_KEYS[event_type]}
    if event_type == "adverse_event" and grade_problem(values["grade"]):
        raise EventRejected(str(grade_problem(values["grade"])))
    event: Event = EVENT_TYPES[event_type](**values)
    return event
