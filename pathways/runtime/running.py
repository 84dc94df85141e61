"""One running pathway (the enrollment's, or a sub-pathway it called) moving its tokens."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from functools import lru_cache
from string import Formatter
from typing import Any

from pathways.durations import Duration, DurationParameter, DurationSpec, WorkingDays, parse_iso
from pathways.expressions import Expression, ExpressionError
from pathways.machine import Transition
from pathways.model import Call, Decide, End, Notify, Repeat, Task, Wait
from pathways.runtime.changes import Changes
from pathways.runtime.definition import Definition
from pathways.runtime.effects import (
    AuditEntry,
    CancelTask,
    CancelTimer,
    CreateTask,
    EnrollmentChanged,
    ScheduleTimer,
)
from pathways.runtime.effects import Notify as NotifyEffect
from pathways.runtime.holds import add_hold
from pathways.runtime.state import Frame, iso, new_frame


class RunningPathway:
    """A frame of the enrollment state together with the definition that drives it."""

    def __init__(
        self,
        definition: Definition,
        frame: Frame,
        changes: Changes,
        parent: tuple[RunningPathway, str] | None = None,
    ) -> None:
        self.definition = definition
        self.frame = frame
        self.changes = changes
        self.parent = parent
        self._queue: list[tuple[str, Transition | None]] = []
        self._draining = False

    # -- the frames below this one -------------------------------------------------------

    def children(self) -> Iterator[RunningPathway]:
        """Sub-pathways currently running inside this one."""
        for state_id, instance in list(self.frame["active"].items()):
            if "child" in instance:
                yield RunningPathway(
                    self.definition.callees[state_id],
                    instance["child"],
                    self.changes,
                    (self, state_id),
                )

    def every_frame(self) -> Iterator[RunningPathway]:
        """This frame and every sub-pathway below it, outermost first."""
        yield self
        for child in self.children():
            yield from child.every_frame()

    def path(self) -> list[str]:
        """Call step ids from the enrollment's pathway down to this frame."""
        return [*self.parent[0].path(), self.parent[1]] if self.parent else []

    # -- names --------------------------------------------------------------------------

    def scope(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Every name an expression can read in this frame now."""
        names: dict[str, Any] = {
            **self.frame["parameters"],
            **self.changes.root["patient"],
            **self.frame["data"],
        }
        for state_id, count in self.frame["counters"].items():
            step = self.definition.steps[state_id]
            assert isinstance(step, Repeat)
            names[step.counter] = count
        if extra:
            names.update(extra)
        return names

    def evaluate(self, expression: Expression, extra: dict[str, Any] | None = None) -> Any:
        """The value of an expression, or _Missing when a name it reads has no value yet."""
        try:
            return expression.evaluate(self.scope(extra))
        except ExpressionError as error:
            return _Missing(error.message)

    def render(self, text: str, extra: dict[str, Any] | None = None) -> str:
        """Text with {name} filled in; a name without a value yet shows as '...'."""
        template = _template(text)
        if isinstance(template, str):
            return template  # nothing to fill in (most titles, and empty instructions)
        scope = self.scope(extra)
        parts = []
        for literal, name in template:
            parts.append(literal)
            if name is not None:
                parts.append(str(scope[name]) if name in scope else "...")
        return "".join(parts)

    # -- time -----------------------------------------------------------------------------

    def due(self, spec: DurationSpec, start: datetime) -> datetime:
        """When a duration measured from `start` ends, on the pathway's calendar."""
        calendar = self.definition.calendar
        if isinstance(spec, WorkingDays):
            count = spec.count
            days = count if isinstance(count, int) else int(self.frame["parameters"][count])
            return calendar.add_working_days(start, days)
        if isinstance(spec, DurationParameter):
            parsed = _duration(str(self.frame["parameters"][spec.name]))
            assert parsed is not None
            return calendar.add(start, parsed)
        assert isinstance(spec, Duration)
        return calendar.add(start, spec)

    def task_due(self, spec: DurationSpec, start: datetime) -> datetime:
        """A task's due date: no task falls due on a day the clinic is closed."""
        return self.definition.calendar.on_open_day(self.due(spec, start))

    # -- moving tokens ---------------------------------------------------------------------

    def go(self, state_id: str, via: Transition | None = None) -> None:
        """Move a token into a state and on through every state that does not wait."""
        self._queue.append((state_id, via))
        if self._draining:
            return
        self._draining = True
        try:
            while self._queue and "outcome" not in self.frame:
                self._enter(*self._queue.pop(0))
        finally:
            self._draining = False
            self._queue.clear()

    def leave(self, state_id: str, trigger: str) -> None:
        """Take the transition a trigger names out of a state."""
        transition = self.definition.follow(state_id, trigger)
        self.go(transition.target, transition)

    def _enter(self, state_id: str, via: Transition | None) -> None:
        kind = self.definition.states[state_id].kind
        step = self.definition.steps.get(state_id)
        repeating = kind == "loop" and via is not None and via.loops_back
        if step is not None and step.when is not None and not repeating:
            runs = self.evaluate(step.when)
            if isinstance(runs, _Missing):
                if not self.changes.root["projection"]:
                    self.stuck(state_id, f"'when' of step '{state_id}': {runs.reason}")
                    return
                runs = True  # projections take the usual path: the step runs
            if not runs:
                self._count("skipped", state_id)
                self.leave(state_id, "skipped")
                return
        _ENTER[kind](self, state_id, step, via)

    def _enter_start(self, state_id: str, step: object, via: object) -> None:
        self.leave(state_id, "enrolled")

    def _enter_finish(self, state_id: str, step: object, via: object) -> None:
        self.end("completed")

    def _enter_end(self, state_id: str, step: object, via: object) -> None:
        assert isinstance(step, End)
        self.end(step.outcome)

    def _enter_task(self, state_id: str, step: object, via: object) -> None:
        assert isinstance(step, Task)
        now = self.changes.now
        task_id = self.changes.new_id("T")
        due = self.task_due(step.due, now)
        self.frame["active"][state_id] = {
            "task": task_id,
            "ready": self.changes.stamp,
            "due": iso(due),
        }
        self.changes.effects.append(
            CreateTask(
                task=task_id,
                step=state_id,
                title=self.render(step.title),
                role=step.role,
                due=due,
                priority=step.priority,
                instructions=self.render(step.instructions),
                record=tuple([field.name for field in step.record]) if step.record else (),
                pathway=self.definition.key,
            )
        )

    def _enter_wait(self, state_id: str, step: object, via: object) -> None:
        assert isinstance(step, Wait)
        now = self.changes.now
        if step.until is not None:
            due = self.definition.calendar.next_slot(
                now, self.definition.calendar.definition.slots[step.until]
            )
        else:
            assert step.duration is not None
            due = self.due(step.duration, now)
        timer_id = self.changes.new_id("W")
        self.frame["active"][state_id] = {
            "timer": timer_id,
            "ready": self.changes.stamp,
            "due": iso(due),
        }
        self.changes.effects.append(ScheduleTimer(timer=timer_id, step=state_id, due=due))

    def _enter_decide(self, state_id: str, step: object, via: object) -> None:
        assert isinstance(step, Decide)
        for branch in step.branches:
            taken = self.evaluate(branch.condition)
            if isinstance(taken, _Missing):
                if not self.changes.root["projection"]:
                    self.stuck(state_id, f"decision '{state_id}': {taken.reason}")
                    return
                if step.usual is not None:  # projections take the usual path
                    self._count("done", state_id)
                    self.go(step.usual)
                    return
                break  # without `usual`, the usual path is the else branch
            if taken:
                self._count("done", state_id)
                self.go(branch.target)
                return
        self._count("done", state_id)
        else_move = next(t for t in self.definition.outgoing[state_id] if t.guard == "else")
        self.go(else_move.target, else_move)

    def _enter_fork(self, state_id: str, step: object, via: object) -> None:
        self.frame["joins"][f"{state_id}.join"] = 0
        for transition in self.definition.outgoing[state_id]:
            if transition.trigger == "forked":
                self.go(transition.target, transition)

    def _enter_join(self, state_id: str, step: object, via: object) -> None:
        arrived = self.frame["joins"].get(state_id, 0) + 1
        if arrived < self.definition.branches[state_id]:
            self.frame["joins"][state_id] = arrived
            return
        self.frame["joins"].pop(state_id, None)
        self.leave(state_id, "joined")

    def _enter_loop(self, state_id: str, step: object, via: Transition | None) -> None:
        assert isinstance(step, Repeat)
        counters = self.frame["counters"]
        if via is None or not via.loops_back:
            counters[state_id] = 0
        count = step.count if isinstance(step.count, int) else self.frame["parameters"][step.count]
        if counters[state_id] < int(count):
            counters[state_id] += 1
            self.leave(state_id, "next_iteration")
        else:
            del counters[state_id]
            self.leave(state_id, "iterations_done")

    def _enter_phase(self, state_id: str, step: object, via: object) -> None:
        self.leave(state_id, "entered")

    def _enter_notify(self, state_id: str, step: object, via: object) -> None:
        assert isinstance(step, Notify)
        self.changes.effects.append(
            NotifyEffect(
                role=step.to, text=self.render(step.text), priority=step.priority, step=state_id
            )
        )
        self._count("done", state_id)
        self.leave(state_id, "sent")

    def _enter_call(self, state_id: str, step: object, via: object) -> None:
        assert isinstance(step, Call)
        callee = self.definition.callees[state_id]
        parameters = {name: field.default for name, field in callee.pathway.parameters.items()}
        for name, value in step.arguments.items():
            if isinstance(value, Expression):
                value = self.evaluate(value)
                if isinstance(value, _Missing):
                    if not self.changes.root["projection"]:
                        self.stuck(state_id, f"call '{state_id}', with.{name}: {value.reason}")
                        return
                    continue
            parameters[name] = value
        child = new_frame(parameters)
        self.frame["active"][state_id] = {"child": child, "ready": self.changes.stamp}
        RunningPathway(callee, child, self.changes, (self, state_id)).go("start")

    # -- ends -------------------------------------------------------------------------------

    def complete(self, state_id: str, counted: str, trigger: str) -> None:
        """A task, wait or sub-pathway ended: count it and move on."""
        instance = self.frame["active"].pop(state_id)
        if "child" in instance:
            self.frame["work"] += instance["child"]["work"]
        else:
            self.frame["work"] += 1
        self._count(counted, state_id)
        self.leave(state_id, trigger)

    def child_ended(self, state_id: str, outcome: str) -> None:
        """A sub-pathway ended: its outcome becomes the call step's value."""
        self.frame["data"][state_id] = outcome
        self.complete(state_id, "done", "sub_pathway_ended")

    def end(self, outcome: str) -> None:
        """This pathway ended: cancel its open work, then finish the call or the enrollment."""
        self.cancel_all(f"pathway ended: {outcome}")
        self.frame["outcome"] = outcome
        self.changes.effects.append(
            AuditEntry("pathway_ended", {"pathway": self.definition.key, "outcome": outcome})
        )
        if self.parent is not None:
            self.parent[0].child_ended(self.parent[1], outcome)
            return
        root = self.changes.root
        root["status"], root["outcome"] = "completed", outcome
        cancel_handler_tasks(self.changes, f"pathway ended: {outcome}")
        self.changes.effects.append(EnrollmentChanged("completed", outcome=outcome))

    def cancel_all(self, reason: str) -> None:
        """Cancel every open task, timer and sub-pathway of this frame."""
        for child in list(self.children()):
            child.cancel_all(reason)
        for instance in self.frame["active"].values():
            if instance.get("task"):
                self.changes.effects.append(CancelTask(instance["task"], reason))
            if instance.get("timer"):
                self.changes.effects.append(CancelTimer(instance["timer"]))
        self.frame["active"] = {}
        self._queue.clear()

    def stuck(self, state_id: str, reason: str) -> None:
        """A decision lacks data: hold the enrollment until someone records it and resumes."""
        self.frame["active"][state_id] = {"stuck": reason, "ready": self.changes.stamp}
        add_hold(self.top(), "engine", f"{reason}; record it, then resume", None)

    def top(self) -> RunningPathway:
        """The enrollment's own pathway."""
        return self.parent[0].top() if self.parent else self

    def _count(self, what: str, state_id: str) -> None:
        counts = self.frame[what]
        counts[state_id] = counts.get(state_id, 0) + 1

    def reenter_stuck(self) -> None:
        """After a resume, try again every decision that lacked data."""
        for state_id, instance in list(self.frame["active"].items()):
            if "stuck" in instance:
                del self.frame["active"][state_id]
                self.go(state_id)


# How each kind of state is entered, looked up once rather than by name at every entry.
_ENTER: dict[str, Callable[[RunningPathway, str, Any, Any], None]] = {
    name.removeprefix("_enter_"): method
    for name, method in vars(RunningPathway).items()
    if name.startswith("_enter_")
}
# The kinds of state the runtime can enter (tests check the machine produces no other kind).
KINDS_ENTERED = frozenset(_ENTER)


@lru_cache(maxsize=1024)
def _template(text: str) -> str | tuple[tuple[str, str | None], ...]:
    """A text's literal parts and the names to fill in, parsed once per text; the text as
    shown when it has no name to fill in, so rendering it needs no scope."""
    parts = tuple((literal, name) for literal, name, _, _ in Formatter().parse(text))
    if all(name is None for _, name in parts):
        return "".join(literal for literal, _ in parts)
    return parts


@lru_cache(maxsize=1024)
def _duration(text: str) -> Duration | None:
    """A duration parameter's value, parsed once per value."""
    return parse_iso(text)


class _Missing:
    def __init__(self, reason: str) -> None:
        self.reason = reason


def cancel_handler_tasks(changes: Changes, reason: str) -> None:
    """Cancel the open tasks that `on:` handlers created."""
    for task_id in changes.root["handler_tasks"]:
        changes.effects.append(CancelTask(task_id, reason))
    changes.root["handler_tasks"] = {}
    changes.root["holds"] = []
