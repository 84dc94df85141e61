"""Compiles a pathway into a flat state machine: states, transitions and guards.

Every step becomes a state named by its id; a parallel step adds a join state
(`ID.join`); `start` and `finish` frame the whole. Transitions carry the trigger that
moves a token along them and, for decisions, loops and `when`, the guard that must hold.
"""

from __future__ import annotations

from dataclasses import dataclass

from pathways.durations import Duration, DurationParameter, DurationSpec, WorkingDays
from pathways.model import (
    Call,
    Decide,
    End,
    Notify,
    Parallel,
    Pathway,
    Phase,
    Repeat,
    Step,
    Task,
    Wait,
)

START, FINISH = "start", "finish"
# States a token passes through at once, without waiting for staff or time.
INSTANT_KINDS = frozenset({"start", "decide", "fork", "join", "loop", "phase", "notify"})


@dataclass(frozen=True)
class State:
    """One state of the machine; `step` is the step it stands for, `parent` its composite."""

    id: str
    kind: str
    label: str
    step: str | None = None
    parent: str | None = None


@dataclass(frozen=True)
class Transition:
    """A move from one state to another on a trigger, when the guard holds."""

    source: str
    target: str
    trigger: str
    guard: str | None = None
    loops_back: bool = False  # the end of a repeat body returning to its head


@dataclass(frozen=True)
class Machine:
    """The compiled pathway."""

    pathway: str
    version: int
    states: tuple[State, ...]
    transitions: tuple[Transition, ...]

    def state(self, state_id: str) -> State:
        """The state with this id."""
        return next(state for state in self.states if state.id == state_id)

    def outgoing(self, state_id: str) -> tuple[Transition, ...]:
        """Transitions leaving a state, in priority order."""
        return tuple(t for t in self.transitions if t.source == state_id)


def compile_pathway(pathway: Pathway) -> Machine:
    """The state machine of a pathway (which should have passed validation)."""
    builder = _Builder()
    builder.states.append(State(START, "start", "start"))
    builder.states.append(State(FINISH, "finish", "completed"))
    if pathway.steps:
        builder.transitions.append(Transition(START, pathway.steps[0].id, "enrolled"))
        builder.block(pathway.steps, FINISH, None, loops_back=False)
    else:
        builder.transitions.append(Transition(START, FINISH, "enrolled"))
    return Machine(pathway.id, pathway.version, tuple(builder.states), tuple(builder.transitions))


class _Builder:
    def __init__(self) -> None:
        self.states: list[State] = []
        self.transitions: list[Transition] = []

    def block(
        self, steps: tuple[Step, ...], exit_to: str, parent: str | None, *, loops_back: bool
    ) -> None:
        for index, step in enumerate(steps):
            following = steps[index + 1].id if index + 1 < len(steps) else exit_to
            after = step.then or following
            back = loops_back and after == exit_to
            self.step(step, after, parent, back)

    def link(
        self, source: str, target: str, trigger: str, guard: str | None = None, back: bool = False
    ) -> None:
        self.transitions.append(Transition(source, target, trigger, guard, back))

    def step(self, step: Step, after: str, parent: str | None, back: bool) -> None:
        self.states.append(State(step.id, _kind(step), _label(step), step.id, parent))
        if step.when is not None:
            self.link(step.id, after, "skipped", f"not ({step.when.text})", back)
        if isinstance(step, Task):
            self.link(step.id, after, "task_ended", None, back)
        elif isinstance(step, Wait):
            self.link(step.id, after, "timer_fired", None, back)
        elif isinstance(step, Call):
            self.link(step.id, after, "sub_pathway_ended", None, back)
        elif isinstance(step, Notify):
            self.link(step.id, after, "sent", None, back)
        elif isinstance(step, Decide):
            for branch in step.branches:
                self.link(step.id, branch.target, "decided", branch.condition.text)
            self.link(
                step.id, step.otherwise or after, "decided", "else", back and step.otherwise is None
            )
        elif isinstance(step, Parallel):
            join = f"{step.id}.join"
            self.states.append(State(join, "join", "all branches ended", None, step.id))
            for fork in step.branches:
                self.link(step.id, fork.id, "forked")
                self.block((fork,), join, step.id, loops_back=False)
            self.link(join, after, "joined", None, back)
        elif isinstance(step, Repeat):
            if step.body:
                self.link(
                    step.id, step.body[0].id, "next_iteration", f"{step.counter} < {step.count}"
                )
                self.block(step.body, step.id, step.id, loops_back=True)
            self.link(step.id, after, "iterations_done", None, back)
        elif isinstance(step, Phase):
            if step.body:
                self.link(step.id, step.body[0].id, "entered")
                self.block(step.body, after, step.id, loops_back=back)
            else:
                self.link(step.id, after, "entered", None, back)
        # An End step has no way out: the enrollment ends there.


def _kind(step: Step) -> str:
    kinds = {
        Task: "task",
        Wait: "wait",
        Decide: "decide",
        Parallel: "fork",
        Repeat: "loop",
        Phase: "phase",
        Call: "call",
        Notify: "notify",
        End: "end",
    }
    return kinds[type(step)]


def show_duration(spec: DurationSpec | None) -> str:
    """A duration as an author wrote it."""
    if isinstance(spec, Duration):
        return spec.iso()
    if isinstance(spec, WorkingDays):
        return f"{spec.count} working days"
    if isinstance(spec, DurationParameter):
        return spec.name
    return ""


def _label(step: Step) -> str:
    if isinstance(step, Task):
        return f"{step.title}: {step.role}, due {show_duration(step.due)}"
    if isinstance(step, Wait):
        return f"wait until {step.until}" if step.until else f"wait {show_duration(step.duration)}"
    if isinstance(step, Repeat):
        return f"repeat {step.count} times ({step.counter})"
    if isinstance(step, Call):
        version = f" v{step.version}" if step.version else ""
        return f"call {step.pathway}{version}"
    if isinstance(step, Notify):
        return f"notify {step.to}: {step.text}"
    if isinstance(step, End):
        return f"end: {step.outcome}"
    return step.title or step.id
