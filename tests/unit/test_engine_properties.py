"""Properties of the engine over random valid (and invalid) event sequences.

- replaying the accepted events reproduces the same state and effects;
- a completed, stopped or withdrawn enrollment has no open tasks or timers;
- a held enrollment fires no timers;
- a rejected event changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pathways.model import Field, Task
from pathways.runtime.definition import Definition
from pathways.runtime.effects import CancelTask, CancelTimer, CreateTask, Effect, ScheduleTimer
from pathways.runtime.engine import start, step
from pathways.runtime.events import (
    AdverseEventReported,
    Enrolled,
    Event,
    EventRejected,
    HoldRequested,
    ResultRecorded,
    ResumeRequested,
    TaskCompleted,
    TaskSkipped,
    TimerFired,
    WithdrawalRequested,
)
from pathways.runtime.state import TERMINAL
from tests.conftest import toronto, typical_patient

PATHWAYS = [
    "tumour_board",
    "radiation_sbrt",
    "clinical_trial_screening",
    "chemotherapy",
    "surgery",
    "multimodality_plan",
]
# Weighted by repetition: mostly clinic work, so sequences often reach the pathway's end.
ACTIONS = [
    *["complete"] * 12,
    "skip",
    *["fire"] * 4,
    "adverse_event",
    "lab",
    "hold",
    "resume",
    "resume",
    "withdraw",
    "bad_task",
    "bad_data",
    "bad_timer",
]


def _value(data: st.DataObject, field: Field) -> Any:
    if field.enum:
        return data.draw(st.sampled_from(field.enum))
    low = field.minimum if field.minimum is not None else 0
    high = field.maximum if field.maximum is not None else 200_000
    strategies: dict[str, st.SearchStrategy[Any]] = {
        "integer": st.integers(int(low), int(high)),
        "number": st.floats(low, high, allow_nan=False),
        "boolean": st.booleans(),
        "string": st.text(max_size=12),
        "date": st.just("2026-12-01"),
        "duration": st.just("P1D"),
    }
    return data.draw(strategies[field.type])


def _fields_of(definition: Definition, state: dict[str, Any], task: str) -> tuple[Field, ...]:
    if task in state["handler_tasks"]:
        entry = state["handler_tasks"][task]
        target = definition
        for call in entry["path"]:
            target = target.callees[call]
        handler = target.pathway.handlers[entry["event"]][entry["index"]]
        assert handler.task is not None
        return handler.task.record
    for running_definition, frame in _frames(definition, state["frame"]):
        for state_id, instance in frame["active"].items():
            if instance.get("task") == task:
                found = running_definition.steps[state_id]
                assert isinstance(found, Task)
                return found.record
    raise AssertionError(f"task {task} is not open")


def _frames(definition: Definition, frame: dict[str, Any]) -> list[tuple[Definition, Any]]:
    found = [(definition, frame)]
    for state_id, instance in frame["active"].items():
        if "child" in instance:
            found.extend(_frames(definition.callees[state_id], instance["child"]))
    return found


class _Ledger:
    """Tasks and timers the effects opened and closed, as a task store would see them."""

    def __init__(self) -> None:
        self.tasks: set[str] = set()
        self.timers: set[str] = set()
        self.every_timer: list[str] = []

    def absorb(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, CreateTask):
                self.tasks.add(effect.task)
            elif isinstance(effect, CancelTask):
                self.tasks.discard(effect.task)
            elif isinstance(effect, ScheduleTimer):
                self.timers.add(effect.timer)
                self.every_timer.append(effect.timer)
            elif isinstance(effect, CancelTimer):
                self.timers.discard(effect.timer)


def _choose(
    data: st.DataObject, definition: Definition, state: dict[str, Any], ledger: _Ledger
) -> tuple[Event, bool]:
    """An event, and whether it is meant to be valid."""
    action = data.draw(st.sampled_from(ACTIONS))
    tasks, timers = sorted(ledger.tasks), sorted(ledger.timers)
    if action in ("complete", "skip") and tasks:
        task = data.draw(st.sampled_from(tasks))
        if action == "skip":
            return TaskSkipped(task, "patient declined"), True
        values = {f.name: _value(data, f) for f in _fields_of(definition, state, task)}
        return TaskCompleted(task, values), True
    if action == "fire" and timers:
        return TimerFired(data.draw(st.sampled_from(timers))), True
    if action == "adverse_event":
        return AdverseEventReported("nausea", data.draw(st.integers(1, 5))), True
    if action == "lab":
        return ResultRecorded("lab_result", {"test": "anc", "value": 900.0, "unit": "/uL"}), True
    if action == "hold":
        return HoldRequested("admitted to hospital"), True
    if action == "resume":
        return ResumeRequested("discharged"), True
    if action == "withdraw":
        return WithdrawalRequested("moved to another centre"), True
    if action == "bad_data" and tasks:
        return TaskCompleted(data.draw(st.sampled_from(tasks)), {"no_such_field": 1}), False
    if action == "bad_timer":
        return TimerFired("W999999"), False
    return TaskCompleted("T999999", {}), False


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), pathway_id=st.sampled_from(PATHWAYS))
def test_random_event_sequences_keep_the_engine_invariants(
    definitions: Callable[[str], Definition], data: st.DataObject, pathway_id: str
) -> None:
    definition = definitions(pathway_id)
    now = toronto(2026, 11, 23, 9, 0)
    enrolled = Enrolled(patient=typical_patient(definition))
    state, effects = start(definition, enrolled, now)
    ledger = _Ledger()
    ledger.absorb(effects)
    log: list[tuple[Event, datetime]] = []
    all_effects: list[Effect] = list(effects)
    for _ in range(data.draw(st.integers(1, 80))):
        now += timedelta(hours=data.draw(st.integers(0, 72)))
        event, meant_valid = _choose(data, definition, state, ledger)
        before = json.dumps(state, sort_keys=True)
        if state["status"] == "on_hold":
            for timer in ledger.every_timer:  # a held enrollment fires no timers
                with pytest.raises(EventRejected):
                    step(definition, state, TimerFired(timer), now)
        try:
            new_state, effects = step(definition, state, event, now)
        except EventRejected as rejected:
            assert rejected.reason
            assert json.dumps(state, sort_keys=True) == before  # nothing changed
            continue
        assert meant_valid, f"{event} should have been rejected"
        assert json.dumps(state, sort_keys=True) == before  # the input is never mutated
        if isinstance(event, TaskCompleted | TaskSkipped):
            ledger.tasks.discard(event.task)
        if isinstance(event, TimerFired):
            ledger.timers.discard(event.timer)
        ledger.absorb(effects)
        if new_state["status"] == "on_hold":
            assert not any(isinstance(e, ScheduleTimer) for e in effects)
        state = new_state
        log.append((event, now))
        all_effects.extend(effects)
        json.dumps(state)  # the state stays plain JSON
        if state["status"] in TERMINAL:
            break

    if state["status"] in TERMINAL:
        assert ledger.tasks == set() and ledger.timers == set()
        assert all(not frame["active"] for _, frame in _frames(definition, state["frame"]))
        assert state["handler_tasks"] == {}

    replayed, replayed_effects = start(definition, enrolled, toronto(2026, 11, 23, 9, 0))
    for event, moment in log:
        replayed, more = step(definition, replayed, event, moment)
        replayed_effects.extend(more)
    assert replayed == state
    assert replayed_effects == all_effects
