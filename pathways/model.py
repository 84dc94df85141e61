"""The neutral form of a definition: plain frozen dataclasses the validator and compiler share."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, time
from typing import Any

from pathways.durations import DurationSpec
from pathways.expressions import Expression
from pathways.problems import Span


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class Field:
    """A typed value: a parameter, a patient attribute, a recorded field or event data."""

    name: str
    type: str
    span: Span
    enum: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    unit: str = ""
    description: str = ""
    default: Any = MISSING
    required: bool = True


@dataclass(frozen=True, kw_only=True)
class Step:
    """What every step has; `spans` holds where each of its keys' values is written."""

    id: str
    span: Span
    spans: Mapping[str, Span] = field(default_factory=dict)
    title: str = ""
    when: Expression | None = None
    then: str | None = None
    expected: DurationSpec | None = None

    def children(self) -> tuple[Step, ...]:
        """The steps nested directly inside this one."""
        return ()


@dataclass(frozen=True, kw_only=True)
class Task(Step):
    """Work for a staff role, completed with recorded data."""

    role: str
    due: DurationSpec
    priority: str = "routine"
    instructions: str = ""
    record: tuple[Field, ...] = ()
    treatment: bool = False  # completing it treats the patient (days to first treatment)


@dataclass(frozen=True, kw_only=True)
class Wait(Step):
    """Time passing: a duration, or until the next occurrence of a calendar slot."""

    duration: DurationSpec | None = None
    until: str | None = None


@dataclass(frozen=True)
class Branch:
    """One `if` of a decide step."""

    condition: Expression
    target: str
    span: Span
    target_span: Span


@dataclass(frozen=True, kw_only=True)
class Decide(Step):
    """Route to the first branch whose condition holds, else to `otherwise`."""

    branches: tuple[Branch, ...]
    otherwise: str | None = None
    usual: str | None = None  # what projections assume before the data is known


@dataclass(frozen=True, kw_only=True)
class Parallel(Step):
    """Branches that start together; the step ends when all have ended."""

    branches: tuple[Step, ...]

    def children(self) -> tuple[Step, ...]:
        return self.branches


@dataclass(frozen=True, kw_only=True)
class Repeat(Step):
    """The body run `count` times (a literal or an integer parameter) with a 1..N counter."""

    count: int | str
    counter: str
    body: tuple[Step, ...]

    def children(self) -> tuple[Step, ...]:
        return self.body


@dataclass(frozen=True, kw_only=True)
class Phase(Step):
    """A named group of steps run in order."""

    body: tuple[Step, ...]

    def children(self) -> tuple[Step, ...]:
        return self.body


@dataclass(frozen=True, kw_only=True)
class Call(Step):
    """A sub-pathway run as one step; `arguments` are literals or caller expressions."""

    pathway: str
    version: int | None = None
    arguments: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Notify(Step):
    """An automatic message to a role."""

    text: str
    to: str
    priority: str = "routine"


@dataclass(frozen=True, kw_only=True)
class End(Step):
    """Ends the enrollment with an outcome."""

    outcome: str


@dataclass(frozen=True)
class HandlerTask:
    """A task a handler creates."""

    title: str
    role: str
    due: DurationSpec
    priority: str = "routine"
    instructions: str = ""
    record: tuple[Field, ...] = ()


@dataclass(frozen=True)
class Handler:
    """One entry of `on:`: reacts to an event that may arrive at any time."""

    event: str
    index: int
    span: Span
    spans: Mapping[str, Span]
    condition: Expression | None = None
    hold: bool = False
    task: HandlerTask | None = None
    notify: str | None = None
    notify_to: str | None = None
    stop: str | None = None
    priority: str = "routine"  # of its task and its notification

    @property
    def where(self) -> str:
        """How problems name this handler."""
        return f"on.{self.event}[{self.index}]"


@dataclass(frozen=True)
class Pathway:
    """A whole pathway definition."""

    id: str
    version: int
    title: str
    modality: str
    file: str
    roles: tuple[str, ...]
    steps: tuple[Step, ...]
    spans: Mapping[str, Span]
    description: str = ""
    calendar: str = "clinic"
    parameters: Mapping[str, Field] = field(default_factory=dict)
    patient: Mapping[str, Field] = field(default_factory=dict)
    events: Mapping[str, Mapping[str, Field]] = field(default_factory=dict)
    handlers: Mapping[str, tuple[Handler, ...]] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, int]:
        """(id, version): how the library names a definition."""
        return (self.id, self.version)

    def walk(self) -> Iterator[Step]:
        """Every step, depth first, in document order."""
        yield from walk(self.steps)


def walk(steps: tuple[Step, ...]) -> Iterator[Step]:
    """Every step of a list and their nested steps, depth first."""
    for step in steps:
        yield step
        yield from walk(step.children())


@dataclass(frozen=True)
class Slot:
    """A weekly calendar slot such as the tumour board."""

    name: str
    weekday: int  # Monday is 0
    time: time


@dataclass(frozen=True)
class Calendar:
    """Working days, holidays, closures and weekly slots of a clinic, in its time zone."""

    id: str
    file: str
    title: str
    timezone: str
    working_days: frozenset[int]
    holiday_country: str | None = None
    holiday_subdivision: str | None = None
    closures: frozenset[date] = frozenset()
    slots: Mapping[str, Slot] = field(default_factory=dict)
