"""Simulated time: run an enrollment to its end, completing tasks when they usually end.

The simulator is the engine's time-skipping test environment: it feeds `step` the events a
clinic would (tasks completed at their expected time, timers at their due time, scripted
results and adverse events) and records a dated timeline. `project` does the same from an
enrollment's current state to estimate its end date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pathways.model import Task
from pathways.runtime.changes import Changes
from pathways.runtime.definition import Definition
from pathways.runtime.effects import (
    CancelTask,
    CancelTimer,
    CreateTask,
    Effect,
    ScheduleTimer,
    UpdateTask,
)
from pathways.runtime.engine import apply_in_place
from pathways.runtime.engine import start as enrol
from pathways.runtime.events import (
    Enrolled,
    Event,
    EventRejected,
    TaskCompleted,
    TimerFired,
)
from pathways.runtime.holds import release
from pathways.runtime.running import RunningPathway
from pathways.runtime.scenario import Scenario, ScenarioError
from pathways.runtime.state import TERMINAL, State, clone, moment

# A pathway that has not ended after this many events is looping: stop and say so.
EVENT_LIMIT = 20_000


@dataclass
class TimelineRow:
    """One task or wait as it happened in simulated time."""

    step: str
    title: str
    role: str
    kind: str
    pathway: str
    ready: datetime
    due: datetime
    done: datetime | None = None
    ended: str = ""  # completed, skipped, cancelled


@dataclass
class Timeline:
    """The simulated course of an enrollment."""

    rows: list[TimelineRow]
    start: datetime
    end: datetime
    status: str
    outcome: str | None
    state: State
    note: str = ""


@dataclass
class _Open:
    row: TimelineRow
    finish: datetime | None  # None while held
    lead: timedelta  # how long before its due date the task usually ends


def simulate(definition: Definition, start: datetime, scenario: Scenario | None = None) -> Timeline:
    """Enrol at `start` and run in simulated time until the enrollment ends."""
    scenario = scenario or Scenario()
    state, effects = enrol(
        definition, Enrolled(scenario.parameters, scenario.patient), start, projection=True
    )
    return _Driver(definition, state, start, scenario).run(effects)


def project(definition: Definition, state: State, now: datetime) -> Timeline:
    """From an enrollment's state, the usual course to its end (the state is not changed)."""
    copy = clone(state)
    copy["projection"] = True
    effects: list[Effect] = []
    if copy["status"] == "on_hold":
        # Nothing in a projection lifts a navigator's hold: assume it lifts now.
        changes = Changes(copy, now)
        release(
            RunningPathway(definition, copy["frame"], changes),
            lambda hold: hold["by"] != "handler",
            "projection",
        )
        effects = changes.effects
    driver = _Driver(definition, copy, now, Scenario())
    driver.adopt_open_work()
    return driver.run(effects)


def planned_end(definition: Definition, state: State, now: datetime) -> datetime:
    """The end of the usual course from enrolment: the plan progress flags lateness against.

    Call it on the state `start` returned, with the same `now`, and keep it in the state as
    `state["planned_end"] = iso(planned_end(definition, state, now))` (enrolment and replay
    alike, so a replayed state still matches the stored one). Not part of `start`: the
    projection is most of an enrolment's CPU, and simulations and projections never need it."""
    return project(definition, state, now).end


class _Driver:
    def __init__(
        self, definition: Definition, state: State, now: datetime, scenario: Scenario
    ) -> None:
        self.definition = definition
        self.state = state
        self.start = now
        self.now = now
        self.scenario = scenario
        self.rows: list[TimelineRow] = []
        self.tasks: dict[str, _Open] = {}
        self.timers: dict[str, _Open] = {}
        self.occurrences: dict[str, int] = {}
        self.decisions = list(scenario.decisions)
        self.scripted = sorted(scenario.events, key=lambda scripted: scripted.day)
        self.definitions: dict[str, Definition] = {}
        for called in reversed(_all(definition)):  # the first of a key wins, as it did
            self.definitions[called.key] = called

    def run(self, effects: list[Effect]) -> Timeline:
        self._absorb(effects)
        note = ""
        for _ in range(EVENT_LIMIT):
            if self.state["status"] in TERMINAL:
                break
            chosen = self._next()
            if chosen is None:
                note = "stopped: the enrollment is on hold and nothing scheduled resumes it"
                break
            when, event = chosen
            self.now = max(self.now, when)
            try:
                self.state, effects = _engine_step(self.definition, self.state, event, self.now)
            except EventRejected as rejected:
                raise ScenarioError(f"day {self._day():.1f}: {rejected.reason}") from None
            self._finish(event)
            self._absorb(effects)
        else:
            note = f"stopped after {EVENT_LIMIT} events: the pathway does not end"
        return Timeline(
            self.rows,
            self.start,
            self.now,
            self.state["status"],
            self.state["outcome"],
            self.state,
            note,
        )

    def _day(self) -> float:
        return (self.now - self.start).total_seconds() / 86400

    def _next(self) -> tuple[datetime, Event] | None:
        candidates: list[tuple[datetime, int, Event]] = []
        if self.scripted:
            scripted = self.scripted[0]
            candidates.append((self.start + timedelta(days=scripted.day), 0, scripted.event))
        held = self.state["status"] == "on_hold"
        for task_id, open_task in self.tasks.items():
            if open_task.finish is not None and (not held or task_id in self._handler_tasks()):
                candidates.append((open_task.finish, 1, self._completion(task_id)))
        for timer_id, open_timer in self.timers.items():
            if open_timer.finish is not None:
                candidates.append((open_timer.finish, 2, TimerFired(timer_id)))
        if not candidates:
            return None
        when, order, event = min(candidates, key=lambda c: (c[0], c[1], _number(c[2])))
        if order == 0:
            self.scripted.pop(0)
        return when, event

    def _handler_tasks(self) -> dict[str, Any]:
        return self.state["handler_tasks"]  # type: ignore[no-any-return]

    def _completion(self, task_id: str) -> TaskCompleted:
        row = self.tasks[task_id].row
        if task_id in self._handler_tasks():
            if self._handler_tasks()[task_id]["hold"]:
                return TaskCompleted(
                    task_id, self.decisions.pop(0) if self.decisions else {"decision": "resume"}
                )
            return TaskCompleted(task_id, {})
        values = self.scenario.record.get(row.step, ())
        seen = self.occurrences.get(row.step, 0)
        data = values[min(seen, len(values) - 1)] if values else {}
        return TaskCompleted(task_id, data)

    def _finish(self, event: Event) -> None:
        if isinstance(event, TaskCompleted):
            opened = self.tasks.pop(event.task)
            opened.row.done, opened.row.ended = self.now, "completed"
            self.occurrences[opened.row.step] = self.occurrences.get(opened.row.step, 0) + 1
        elif isinstance(event, TimerFired):
            opened = self.timers.pop(event.timer)
            opened.row.done, opened.row.ended = self.now, "completed"

    def _absorb(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, CreateTask):
                self._open_task(effect)
            elif isinstance(effect, ScheduleTimer):
                existing = next(
                    (
                        o
                        for o in self.timers.values()
                        if o.row.step == effect.step and o.finish is None
                    ),
                    None,
                )
                if existing is not None:  # a held wait resumed under a new timer id
                    self.timers = {k: v for k, v in self.timers.items() if v is not existing}
                    existing.finish = effect.due
                    self.timers[effect.timer] = existing
                    continue
                row = TimelineRow(
                    effect.step,
                    f"wait ({effect.step})",
                    "",
                    "wait",
                    self._pathway_of(effect.step),
                    self.now,
                    effect.due,
                )
                self.rows.append(row)
                self.timers[effect.timer] = _Open(row, effect.due, timedelta())
            elif isinstance(effect, UpdateTask) and effect.task in self.tasks:
                opened = self.tasks[effect.task]
                if effect.status == "on-hold":
                    opened.finish = None
                elif effect.due is not None:
                    opened.row.due = effect.due
                    opened.finish = effect.due - opened.lead
            elif isinstance(effect, CancelTask) and effect.task in self.tasks:
                opened = self.tasks.pop(effect.task)
                opened.row.done, opened.row.ended = self.now, "cancelled"
            elif isinstance(effect, CancelTimer) and effect.timer in self.timers:
                if self.state["status"] == "on_hold":
                    self.timers[effect.timer].finish = None  # paused, resumes later
                else:
                    opened = self.timers.pop(effect.timer)
                    opened.row.done, opened.row.ended = self.now, "cancelled"

    def _open_task(self, effect: CreateTask) -> None:
        finish = self._usual_finish(effect)
        row = TimelineRow(
            effect.step, effect.title, effect.role, "task", effect.pathway, self.now, effect.due
        )
        self.rows.append(row)
        self.tasks[effect.task] = _Open(row, finish, effect.due - finish)

    def _usual_finish(self, effect: CreateTask) -> datetime:
        step = self._step(effect.pathway, effect.step)
        delay = self.scenario.delays.get(effect.step)
        finish = effect.due
        if isinstance(step, Task) and step.expected is not None:
            finish = _running(self.definition, self.state, self.now).due(step.expected, self.now)
        if delay is not None:
            finish = _running(self.definition, self.state, self.now).due(delay, finish)
        return self.definition.calendar.in_working_hours(max(finish, self.now))

    def _step(self, pathway_key: str, step_id: str) -> object:
        definition = self.definitions.get(pathway_key)
        return definition.steps.get(step_id) if definition is not None else None

    def _pathway_of(self, step_id: str) -> str:
        for definition in _all(self.definition):
            if step_id in definition.steps:
                return definition.key
        return self.definition.key

    def adopt_open_work(self) -> None:
        """Take over the tasks and timers already open in the state being projected."""
        top = _running(self.definition, self.state, self.now)
        held = self.state["status"] == "on_hold"
        for running in top.every_frame():
            for state_id, instance in running.frame["active"].items():
                if "due" not in instance:
                    continue
                step = running.definition.steps[state_id]
                due = (
                    moment(instance["due"])
                    if "remaining" not in instance
                    else (self.now + timedelta(seconds=instance["remaining"]))
                )
                kind = "task" if "task" in instance else "wait"
                row = TimelineRow(
                    state_id,
                    getattr(step, "title", state_id) or state_id,
                    getattr(step, "role", ""),
                    kind,
                    running.definition.key,
                    moment(instance["ready"]),
                    due,
                )
                finish = None if held else max(due, self.now)
                if kind == "task" and isinstance(step, Task) and step.expected is not None:
                    usual = running.due(step.expected, moment(instance["ready"]))
                    finish = None if held else max(usual, self.now)
                self.rows.append(row)
                target = self.tasks if kind == "task" else self.timers
                key = instance["task"] if kind == "task" else (instance.get("timer") or state_id)
                target[key] = _Open(row, finish, due - (finish or due))
        for task_id, entry in self._handler_tasks().items():
            row = TimelineRow(
                entry["event"],
                entry["event"],
                "",
                "task",
                self.definition.key,
                moment(entry["ready"]),
                moment(entry["due"]),
            )
            self.rows.append(row)
            self.tasks[task_id] = _Open(row, max(moment(entry["due"]), self.now), timedelta())


def _engine_step(
    definition: Definition, state: State, event: Event, now: datetime
) -> tuple[State, list[Effect]]:
    """`step` on the driver's own state (a fresh enrolment, or the copy `project` made):
    nobody else sees it, and a rejection ends the run, so it is changed in place rather
    than copied at every event."""
    return state, apply_in_place(definition, state, event, now)


def _running(definition: Definition, state: State, now: datetime) -> RunningPathway:
    return RunningPathway(definition, state["frame"], Changes(state, now))


def _all(definition: Definition) -> list[Definition]:
    found = [definition]
    for callee in definition.callees.values():
        found.extend(_all(callee))
    return found


def _number(event: Event) -> int:
    ident = str(getattr(event, "task", None) or getattr(event, "timer", None) or "0")
    if ident[1:].isdigit():  # the engine's own ids: T12, W3
        return int(ident[1:])
    digits = "".join(ch for ch in ident if ch.isdigit())
    return int(digits or 0)
