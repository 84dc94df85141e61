"""What an enrollment accepts from people, and whether the data is well typed, before storing it.

One place for the API (which refuses with 422 or 409) and the worker (which may check again):
engine-internal events (`timer_fired`) are never taken from people, task completions and skips
come through their task, an ended enrollment takes nothing more, and data must be what the
pathway declares for the event.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pathways.language import BUILTIN_EVENTS
from pathways.model import Field, Task
from pathways.problems import NOWHERE
from pathways.runtime.checks import check_recorded
from pathways.runtime.definition import Definition
from pathways.runtime.events import EventRejected
from pathways.runtime.state import TERMINAL

# Built-in stored types and the data keys each takes (a pathway's own events: its fields).
EVENT_KEYS: dict[str, tuple[str, ...]] = {
    "task_completed": ("task", "data"),
    "task_skipped": ("task", "reason"),
    "timer_fired": ("timer",),
    "data_recorded": ("step", "data", "reason"),
    "adverse_event": ("term", "grade"),
    "hold": ("reason",),
    "resume": ("reason",),
    "withdraw": ("reason",),
}
FROM_PEOPLE = ("hold", "resume", "withdraw", "data_recorded", *BUILTIN_EVENTS)
THROUGH_TASKS = ("task_completed", "task_skipped")
HIGHEST_GRADE = 5  # CTCAE grade 5 is death; grade 0 is no adverse event at all
_REASONS = ("hold", "resume", "withdraw")


class EnrollmentEnded(EventRejected):
    """The enrollment has completed, stopped or been withdrawn: it takes no more events."""


@dataclass(frozen=True)
class Refusal:
    """Why an event is not taken; `ended` when the enrollment is over (a conflict, not bad data)."""

    reason: str
    ended: bool = False


def sendable(definition: Definition) -> tuple[str, ...]:
    """The event types people may send to an enrollment on this definition, sorted."""
    declared = {name for each in _tree(definition) for name in each.pathway.events}
    return tuple(sorted({*FROM_PEOPLE, *declared}))


def admission(
    definition: Definition, status: str, event_type: str, data: Mapping[str, Any]
) -> Refusal | None:
    """Why a person's event is refused for an enrollment in `status`, or None to take it."""
    if status in TERMINAL:
        return Refusal(f"the enrollment is {status}; it takes no more events", ended=True)
    if event_type in THROUGH_TASKS:
        verb = "complete" if event_type == "task_completed" else "skip"
        return Refusal(f"a {event_type} event comes through its task: {verb} the task instead")
    allowed = sendable(definition)
    if event_type not in allowed:
        return Refusal(
            f"'{event_type}' is not an event people send to this enrollment; "
            f"send one of: {', '.join(allowed)}"
        )
    try:
        well_typed(definition, event_type, data)
    except EventRejected as rejected:
        return Refusal(rejected.reason)
    return None


def admit(definition: Definition, status: str, event_type: str, data: Mapping[str, Any]) -> None:
    """`admission` as an exception: EnrollmentEnded or EventRejected with the reason."""
    refusal = admission(definition, status, event_type, data)
    if refusal is not None:
        raise (EnrollmentEnded if refusal.ended else EventRejected)(refusal.reason)


def shape_problem(event_type: str, data: Mapping[str, Any]) -> str | None:
    """Why a built-in event's data has the wrong keys, or None (any keys for other types)."""
    keys = EVENT_KEYS.get(event_type)
    if keys is None:
        return None
    missing = [key for key in keys if key not in data]
    extra = sorted(set(data) - set(keys))
    if not missing and not extra:
        return None
    return (
        f"a {event_type} event takes {', '.join(keys)}"
        + (f"; missing {', '.join(missing)}" if missing else "")
        + (f"; unexpected {', '.join(extra)}" if extra else "")
    )


def grade_problem(grade: Any) -> str | None:
    """Why an adverse event's grade is not a CTCAE grade, or None."""
    if type(grade) is not int or not 1 <= grade <= HIGHEST_GRADE:  # True is not a grade
        return f"the grade of an adverse event is an integer, 1 to {HIGHEST_GRADE}; got {grade!r}"
    return None


def well_typed(definition: Definition, event_type: str, data: Mapping[str, Any]) -> None:
    """EventRejected unless the data is what the pathway declares for this event type."""
    shape = shape_problem(event_type, data)
    if shape:
        raise EventRejected(shape)
    if event_type in _REASONS:
        _text(data["reason"], f"the reason of a {event_type}")
    elif event_type == "adverse_event":
        problem = grade_problem(data["grade"])
        if problem:
            raise EventRejected(problem)
        _text(data["term"], "the term of an adverse event (its CTCAE term)")
    elif event_type in BUILTIN_EVENTS:
        fields = tuple(
            Field(name, kind, NOWHERE, required=name != "unit")
            for name, kind in BUILTIN_EVENTS[event_type].items()
        )
        check_recorded(fields, data, False, f"a {event_type}")
    elif event_type == "data_recorded":
        _recorded(definition, data)
    else:
        declared = next(d for d in _tree(definition) if event_type in d.pathway.events)
        fields = tuple(declared.pathway.events[event_type].values())
        check_recorded(fields, data, False, f"the event '{event_type}'")


def _recorded(definition: Definition, data: Mapping[str, Any]) -> None:
    step, values = data["step"], data["data"]
    _text(data["reason"], "the reason (where the values come from)")
    if not isinstance(step, str) or not isinstance(values, Mapping):
        raise EventRejected("a data_recorded event takes a task step id and a data object")
    forms = [d.steps[step] for d in _tree(definition) if isinstance(d.steps.get(step), Task)]
    if not forms:
        raise EventRejected(f"no task step '{step}' in this pathway or the ones it calls")
    task = forms[0]
    assert isinstance(task, Task)
    check_recorded(task.record, values, projection=True, what=f"task '{step}'")


def _text(value: Any, what: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise EventRejected(f"{what} must be non-empty text")


def _tree(definition: Definition) -> Iterator[Definition]:
    """The definition and every sub-pathway it calls, outermost first."""
    yield definition
    for callee in definition.callees.values():
        yield from _tree(callee)
