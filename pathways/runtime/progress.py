"""How far along an enrollment is, what is open now, and whether it is on track."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pathways.runtime.changes import Changes, shifted
from pathways.runtime.definition import Definition
from pathways.runtime.running import RunningPathway
from pathways.runtime.simulation import Timeline, project
from pathways.runtime.state import TERMINAL, State, moment

FLAGS = ("on_track", "at_risk", "overdue", "on_hold", "completed")


@dataclass(frozen=True)
class OpenStep:
    """A step waiting for staff, a timer, or data."""

    step: str
    kind: str  # task, wait, stuck
    pathway: str
    ready: datetime
    due: datetime | None
    task: str | None = None


@dataclass(frozen=True)
class Progress:
    """Steps done of those expected, what is open, the next due date, the projected end."""

    status: str
    flag: str
    done: int
    expected: int
    current: tuple[OpenStep, ...]
    next_due: datetime | None
    projected_end: datetime | None
    planned_end: datetime | None
    phase: str | None


@dataclass(frozen=True)
class Standing:
    """What an applied event changes at once, without projecting the course (cheap)."""

    status: str
    done: int
    current: tuple[OpenStep, ...]
    next_due: datetime | None
    planned_end: datetime | None
    phase: str | None

    def flag(self, now: datetime, projected_end: datetime | None) -> str:
        """The flag, given the latest known projected end (which may lag the state)."""
        if self.status in TERMINAL:
            return "completed"
        if self.status == "on_hold":
            return "on_hold"
        if any(s.kind == "task" and s.due is not None and s.due < now for s in self.current):
            return "overdue"
        if self.planned_end and projected_end and projected_end > self.planned_end:
            return "at_risk"
        return "on_track"


def standing(definition: Definition, state: State, now: datetime) -> Standing:
    """Status, steps done, open steps, next due and phase: all from the state, no projection."""
    top = RunningPathway(definition, state["frame"], Changes(state, now))
    planned = moment(state["planned_end"]) if state.get("planned_end") else None
    done = state["frame"]["work"] + sum(_child_work(top))
    if state["status"] in TERMINAL:
        return Standing(state["status"], done, (), None, planned, None)
    current = tuple(_open_steps(top))
    dues = [step.due for step in current if step.due is not None]
    return Standing(
        state["status"], done, current, min(dues) if dues else None, planned, _phase(top)
    )


def progress(
    definition: Definition, state: State, now: datetime, projection: Timeline | None = None
) -> Progress:
    """The progress of an enrollment as a navigator reads it (projects the course).

    Pass `projection` when the caller has already run `project(definition, state, now)`, so it
    is not run twice (the API shows both)."""
    now_standing = standing(definition, state, now)
    done = now_standing.done
    if state["status"] in TERMINAL:
        return Progress(
            state["status"], "completed", done, done, (), None, None, now_standing.planned_end, None
        )
    if projection is None:
        projection = project(definition, state, now)
    remaining = sum(1 for row in projection.rows if row.ended == "completed")
    return Progress(
        status=state["status"],
        flag=now_standing.flag(now, projection.end),
        done=done,
        expected=done + remaining,
        current=now_standing.current,
        next_due=now_standing.next_due,
        projected_end=projection.end,
        planned_end=now_standing.planned_end,
        phase=now_standing.phase,
    )


def _open_steps(top: RunningPathway) -> list[OpenStep]:
    found = []
    for running in top.every_frame():
        for state_id, instance in running.frame["active"].items():
            if "child" in instance:
                continue
            kind = "stuck" if "stuck" in instance else ("task" if "task" in instance else "wait")
            due = moment(instance["due"]) if "due" in instance else None
            if "remaining" in instance:  # held: due as if resumed now
                due = shifted(top.changes.now, instance["remaining"])
            found.append(
                OpenStep(
                    state_id,
                    kind,
                    running.definition.key,
                    moment(instance["ready"]),
                    due,
                    instance.get("task"),
                )
            )
    for task_id, entry in top.changes.root["handler_tasks"].items():
        found.append(
            OpenStep(
                entry["event"],
                "task",
                top.definition.key,
                moment(entry["ready"]),
                moment(entry["due"]),
                task_id,
            )
        )
    return sorted(found, key=lambda step: (step.due is None, step.due or step.ready, step.step))


def _child_work(top: RunningPathway) -> list[int]:
    return [child.frame["work"] for child in top.every_frame() if child is not top]


def _phase(top: RunningPathway) -> str | None:
    """The top-level step (or phase) the enrollment is in, by its title or id."""
    for state_id in top.frame["active"]:
        return _top_level(top.definition, state_id)
    return None


def _top_level(definition: Definition, state_id: str) -> str:
    parent = definition.states[state_id].parent
    while parent is not None and definition.states[parent].parent is not None:
        parent = definition.states[parent].parent
    step = definition.steps[parent or state_id]
    return step.title or step.id
