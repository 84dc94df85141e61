"""What can happen to an enrollment: events in the past tense, each a small frozen dataclass."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Enrolled:
    """A patient starts a pathway with parameters and patient attributes."""

    parameters: Mapping[str, Any] = field(default_factory=dict)
    patient: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskCompleted:
    """Staff completed a task and recorded data against its `record` schema."""

    task: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskSkipped:
    """Staff skipped a task, saying why."""

    task: str
    reason: str


@dataclass(frozen=True)
class TimerFired:
    """A scheduled timer fell due."""

    timer: str


@dataclass(frozen=True)
class DataRecorded:
    """A navigator records (or corrects) a task step's data obtained outside the pathway."""

    step: str
    data: Mapping[str, Any]
    reason: str


@dataclass(frozen=True)
class ResultRecorded:
    """A lab or imaging result arrived from the EHR (`lab_result` or `imaging_result`)."""

    kind: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class AdverseEventReported:
    """A side effect with its CTCAE term and grade (1-5)."""

    term: str
    grade: int


@dataclass(frozen=True)
class PathwayEventOccurred:
    """An event a definition declares under `events:` (e.g. a surgical complication)."""

    name: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HoldRequested:
    """A navigator holds the enrollment."""

    reason: str


@dataclass(frozen=True)
class ResumeRequested:
    """A navigator resumes an enrollment they held."""

    reason: str


@dataclass(frozen=True)
class WithdrawalRequested:
    """A navigator withdraws the patient from the pathway."""

    reason: str


Event = (
    TaskCompleted
    | TaskSkipped
    | TimerFired
    | DataRecorded
    | ResultRecorded
    | AdverseEventReported
    | PathwayEventOccurred
    | HoldRequested
    | ResumeRequested
    | WithdrawalRequested
)


class EventRejected(Exception):
    """The event does not apply to the enrollment as it stands; nothing was changed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
