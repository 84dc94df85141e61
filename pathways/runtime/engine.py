"""`start` and `step`: the deterministic core that advances an enrollment.

    step(definition, state, event, now) -> (new_state, effects)

No clock, randomness or I/O: `now` comes from the caller and ids come from a counter in
the state, so replaying an enrollment's events reproduces its state exactly. An event that
does not apply raises EventRejected and the state passed in is left untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, get_args

from pathways.language import BUILTIN_EVENTS
from pathways.model import Field, Task
from pathways.problems import NOWHERE
from pathways.runtime.changes import Changes
from pathways.runtime.checks import check_recorded, check_values
from pathways.runtime.definition import Definition
from pathways.runtime.effects import AuditEntry, Effect, EnrollmentChanged
from pathways.runtime.events import (
    AdverseEventReported,
    DataRecorded,
    Enrolled,
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
from pathways.runtime.handlers import handle, handler_task_ended
from pathways.runtime.holds import add_hold, release
from pathways.runtime.running import RunningPathway, cancel_handler_tasks
from pathways.runtime.state import (
    FIRST_TREATMENT,
    SCHEMA_VERSION,
    TERMINAL,
    State,
    clone,
    iso,
    new_frame,
)


def start(
    definition: Definition, enrolled: Enrolled, now: datetime, *, projection: bool = False
) -> tuple[State, list[Effect]]:
    """Enrol a patient: check parameters and attributes, then run to the first waits.

    The state has no `planned_end`: projecting the whole course for it cost half of a
    simulated patient's CPU, so the store asks `simulation.planned_end` once at enrolment."""
    pathway = definition.pathway
    parameters = check_values(pathway.parameters, enrolled.parameters, "parameter")
    patient = check_values(pathway.patient, enrolled.patient, "patient attribute")
    root: State = {
        "schema": SCHEMA_VERSION,
        "pathway": definition.key,
        "status": "active",
        "outcome": None,
        "seq": 0,
        "enrolled_at": iso(now),
        "projection": projection,
        "patient": patient,
        "holds": [],
        "handler_tasks": {},
        "frame": new_frame(parameters),
    }
    changes = Changes(root, now)
    changes.effects.append(AuditEntry("enrolled", {"pathway": definition.key}))
    _top(definition, changes).go("start")
    return root, changes.effects


def step(
    definition: Definition, state: State, event: Event, now: datetime
) -> tuple[State, list[Effect]]:
    """Apply one event; the new state and the effects to carry out."""
    _accepts(definition, state)  # before the copy: a state of another pathway may lack parts
    root = clone(state)
    return root, _apply(definition, root, event, now)


def apply_in_place(
    definition: Definition, root: State, event: Event, now: datetime
) -> list[Effect]:
    """`step` without the copy: change `root` itself and return the effects.

    Only for a state nobody else sees, such as a simulation's or projection's own copy: an
    event rejected part-way through leaves that state half-changed."""
    _accepts(definition, root)
    return _apply(definition, root, event, now)


def _apply(definition: Definition, root: State, event: Event, now: datetime) -> list[Effect]:
    changes = Changes(root, now)
    top = _top(definition, changes)
    apply = _APPLY.get(type(event))
    if apply is None:
        raise EventRejected(f"{type(event).__name__} is not an event the engine takes")
    apply(top, event)
    return changes.effects


def _accepts(definition: Definition, root: State) -> None:
    if root.get("schema") != SCHEMA_VERSION or root.get("pathway") != definition.key:
        raise EventRejected(
            f"state is for {root.get('pathway')} (schema {root.get('schema')}), "
            f"not {definition.key} (schema {SCHEMA_VERSION})"
        )
    if root["status"] in TERMINAL:
        raise EventRejected(f"the enrollment is {root['status']}; it takes no more events")


def _top(definition: Definition, changes: Changes) -> RunningPathway:
    return RunningPathway(definition, changes.root["frame"], changes)


# -- tasks and timers ---------------------------------------------------------------------


def _find(top: RunningPathway, key: str, ident: str) -> tuple[RunningPathway, str] | None:
    # Outermost first, as every_frame() orders frames, without building the sub-pathways'
    # frames unless the open item is not in this one (most steps run no sub-pathway).
    for state_id, instance in top.frame["active"].items():
        if instance.get(key) == ident:
            return top, state_id
    for child in top.children():
        found = _find(child, key, ident)
        if found is not None:
            return found
    return None


def _task_completed(top: RunningPathway, event: TaskCompleted) -> None:
    root = top.changes.root
    if event.task in root["handler_tasks"]:
        handler_task_ended(top, event.task, dict(event.data), skipped=False)
        return
    running, state_id = _open_step_task(top, event.task)
    task = running.definition.steps[state_id]
    assert isinstance(task, Task)
    check_recorded(task.record, event.data, root["projection"])
    _record(running, task, event.data)
    if task.treatment and root.get(FIRST_TREATMENT) is None:
        # Whichever frame the task ran in: a multimodal plan's first infusion counts too.
        root[FIRST_TREATMENT] = top.changes.stamp
    top.changes.effects.append(
        AuditEntry(
            "task_completed", {"task": event.task, "step": state_id, "recorded": sorted(event.data)}
        )
    )
    running.complete(state_id, "done", "task_ended")


def _task_skipped(top: RunningPathway, event: TaskSkipped) -> None:
    if not event.reason.strip():
        raise EventRejected("say why the task is skipped")
    root = top.changes.root
    if event.task in root["handler_tasks"]:
        handler_task_ended(top, event.task, {}, skipped=True, reason=event.reason)
        return
    running, state_id = _open_step_task(top, event.task)
    skipped = running.definition.steps[state_id]
    assert isinstance(skipped, Task)
    _record(running, skipped, {})
    top.changes.effects.append(
        AuditEntry("task_skipped", {"task": event.task, "step": state_id, "reason": event.reason})
    )
    running.complete(state_id, "done", "task_ended")


def _record(running: RunningPathway, task: Task, data: Mapping[str, Any]) -> None:
    """What a task recorded replaces what it recorded last time: an earlier cycle's ANC must
    never decide this cycle, so fields left out (or a skipped task's) have no value."""
    for field in task.record:
        running.frame["data"].pop(field.name, None)
    running.frame["data"].update(data)


def _open_step_task(top: RunningPathway, task: str) -> tuple[RunningPathway, str]:
    found = _find(top, "task", task)
    if found is None:
        raise EventRejected(f"task {task} is not open (completed, skipped, cancelled or unknown)")
    if top.changes.root["status"] == "on_hold":
        raise EventRejected(
            f"the enrollment is on hold ({_hold_reasons(top)}); task {task} waits until it resumes"
        )
    return found


def _data_recorded(top: RunningPathway, event: DataRecorded) -> None:
    found = [
        (running, running.definition.steps[event.step])
        for running in top.every_frame()
        if isinstance(running.definition.steps.get(event.step), Task)
    ]
    if not found:
        raise EventRejected(f"no running pathway has a task step '{event.step}'")
    running, task = found[-1]
    assert isinstance(task, Task)
    check_recorded(task.record, event.data, projection=True)
    if not event.data:
        raise EventRejected(f"give the values to record for '{event.step}'")
    if not event.reason.strip():
        raise EventRejected("say where the values come from")
    running.frame["data"].update(event.data)
    top.changes.effects.append(
        AuditEntry(
            "data_recorded",
            {"step": event.step, "recorded": sorted(event.data), "reason": event.reason},
        )
    )


def _timer_fired(top: RunningPathway, event: TimerFired) -> None:
    found = _find(top, "timer", event.timer)
    if found is None:
        raise EventRejected(f"timer {event.timer} is not pending (fired, cancelled or held)")
    running, state_id = found
    top.changes.effects.append(AuditEntry("timer_fired", {"timer": event.timer, "step": state_id}))
    running.complete(state_id, "done", "timer_fired")


# -- events that may arrive at any time -----------------------------------------------------


def _result_recorded(top: RunningPathway, event: ResultRecorded) -> None:
    if event.kind not in ("lab_result", "imaging_result"):
        raise EventRejected(f"'{event.kind}' is not a result kind (lab_result, imaging_result)")
    payload = _payload(BUILTIN_EVENTS[event.kind], event.data, event.kind)
    if event.kind == "lab_result":
        # A lab value named like a recorded number (e.g. anc) is readable by later decisions.
        for running in top.every_frame():
            if _records_number(running, str(payload["test"])):
                running.frame["data"][str(payload["test"])] = payload["value"]
    handle(top, event.kind, payload)


def _records_number(running: RunningPathway, name: str) -> bool:
    return any(
        field.name == name and field.type in ("number", "integer")
        for step in running.definition.steps.values()
        if isinstance(step, Task)
        for field in step.record
    )


def _adverse_event(top: RunningPathway, event: AdverseEventReported) -> None:
    if not 1 <= event.grade <= 5:
        raise EventRejected(f"CTCAE grade must be 1 to 5, got {event.grade}")
    if not event.term.strip():
        raise EventRejected("name the adverse event (its CTCAE term)")
    handle(top, "adverse_event", {"term": event.term, "grade": event.grade})


def _pathway_event(top: RunningPathway, event: PathwayEventOccurred) -> None:
    declared = [r for r in top.every_frame() if event.name in r.definition.pathway.events]
    if not declared:
        raise EventRejected(f"no running pathway declares the event '{event.name}'")
    fields = declared[0].definition.pathway.events[event.name]
    payload = dict(event.data)
    check_recorded(tuple(fields.values()), payload, False, f"the event '{event.name}'")
    handle(top, event.name, payload)


def _payload(types: Mapping[str, str], data: Mapping[str, Any], kind: str) -> dict[str, Any]:
    fields = tuple(
        Field(name, type_name, NOWHERE, required=name != "unit")
        for name, type_name in types.items()
    )
    check_recorded(fields, data, False, f"a {kind}")
    return dict(data)


# -- navigator commands ------------------------------------------------------------------------


def _hold_requested(top: RunningPathway, event: HoldRequested) -> None:
    if not event.reason.strip():
        raise EventRejected("say why the enrollment is held")
    if any(hold["by"] == "navigator" for hold in top.changes.root["holds"]):
        raise EventRejected("the enrollment is already held by a navigator")
    add_hold(top, "navigator", event.reason, None)
    top.changes.effects.append(AuditEntry("held", {"reason": event.reason}))


def _resume_requested(top: RunningPathway, event: ResumeRequested) -> None:
    root = top.changes.root
    if not event.reason.strip():
        raise EventRejected("say why the enrollment resumes")
    if root["status"] != "on_hold":
        raise EventRejected("the enrollment is not on hold")
    reviews = [hold for hold in root["holds"] if hold["by"] == "handler"]
    if reviews:
        tasks = ", ".join(str(hold["task"]) for hold in reviews)
        raise EventRejected(f"held for clinical review: complete review task {tasks} to resume")
    top.changes.effects.append(AuditEntry("resumed", {"reason": event.reason}))
    release(top, lambda hold: hold["by"] in ("navigator", "engine"), event.reason)


def _withdrawal_requested(top: RunningPathway, event: WithdrawalRequested) -> None:
    if not event.reason.strip():
        raise EventRejected("say why the patient is withdrawn")
    changes = top.changes
    top.cancel_all(f"withdrawn: {event.reason}")
    cancel_handler_tasks(changes, f"withdrawn: {event.reason}")
    changes.root["status"] = "withdrawn"
    changes.effects.append(AuditEntry("withdrawn", {"reason": event.reason}))
    changes.effects.append(EnrollmentChanged("withdrawn", reason=event.reason))


def _hold_reasons(top: RunningPathway) -> str:
    return "; ".join(hold["reason"] for hold in top.changes.root["holds"])


_APPLY: dict[type, Any] = {
    TaskCompleted: _task_completed,
    TaskSkipped: _task_skipped,
    TimerFired: _timer_fired,
    DataRecorded: _data_recorded,
    ResultRecorded: _result_recorded,
    AdverseEventReported: _adverse_event,
    PathwayEventOccurred: _pathway_event,
    HoldRequested: _hold_requested,
    ResumeRequested: _resume_requested,
    WithdrawalRequested: _withdrawal_requested,
}

# The events the engine takes; `Event` is a closed union, so one added to it without a handler
# here fails at import rather than being rejected at run time (tests/unit/test_registries.py).
EVENTS_TAKEN: frozenset[type] = frozenset(_APPLY)
if set(get_args(Event)) != EVENTS_TAKEN:
    raise TypeError(f"events without a handler: {set(get_args(Event)) ^ EVENTS_TAKEN}")
