"""The names an expression or a text can read at each point of a pathway."""

from __future__ import annotations

from dataclasses import dataclass, field

from pathways.language import BUILTIN_EVENTS
from pathways.model import Call, Field, Pathway, Repeat, Step, Task
from pathways.problems import Problems
from pathways.typecheck import NameType


@dataclass
class Scopes:
    """Names shared by the whole pathway, plus repeat counters per step."""

    common: dict[str, NameType] = field(default_factory=dict)
    counters: dict[str, dict[str, NameType]] = field(default_factory=dict)

    def at(self, step_id: str) -> dict[str, NameType]:
        """The names visible at a step."""
        return {**self.common, **self.counters.get(step_id, {})}

    def in_handler(self, pathway: Pathway, event: str) -> dict[str, NameType]:
        """The names visible to a handler of `event`: the pathway's names and the event's data."""
        data = BUILTIN_EVENTS.get(event)
        names = dict(self.common)
        if data is not None:
            names.update({name: NameType(type_name) for name, type_name in data.items()})
        else:
            names.update({f.name: NameType(f.type, f.enum) for f in pathway.events[event].values()})
        return names


def build_scopes(pathway: Pathway, problems: Problems) -> Scopes:
    """Collect every name, reporting names given two meanings."""
    scopes = Scopes()
    origin: dict[str, str] = {}

    def declare(name: str, found: Field, what: str, where: str) -> None:
        if name in scopes.common:
            if what == "recorded" and origin[name].startswith("recorded"):
                known = scopes.common[name]
                if known.type != found.type:
                    first = origin[name].removeprefix("recorded in ")
                    problems.add(
                        found.span,
                        where,
                        f"'{name}' is recorded as {known.type} in {first} and as {found.type} here",
                        "give the field one type everywhere, or another name",
                    )
                else:
                    merged = tuple(dict.fromkeys((*known.enum, *found.enum)))
                    scopes.common[name] = NameType(known.type, merged)
                return
            problems.add(
                found.span,
                where,
                f"'{name}' is both {origin[name]} and {what}",
                "give one of them another name",
            )
            return
        scopes.common[name] = NameType(found.type, found.enum)
        origin[name] = f"recorded in step '{where}'" if what == "recorded" else what

    for name, parameter in pathway.parameters.items():
        declare(name, parameter, "a parameter", f"parameters.{name}")
    for name, attribute in pathway.patient.items():
        declare(name, attribute, "a patient attribute", f"patient.{name}")
    for step in pathway.walk():
        if isinstance(step, Task):
            for recorded in step.record:
                declare(recorded.name, recorded, "recorded", step.id)
        if isinstance(step, Call):
            # A call step's id holds the outcome its sub-pathway ended with.
            declare(step.id, Field(step.id, "string", step.span), "the outcome of a call", step.id)
    for handlers in pathway.handlers.values():
        for handler in handlers:
            for recorded in handler.task.record if handler.task else ():
                declare(recorded.name, recorded, "recorded", handler.where)
    _counters(pathway.steps, {}, scopes, problems)
    return scopes


def _counters(
    steps: tuple[Step, ...], outer: dict[str, NameType], scopes: Scopes, problems: Problems
) -> None:
    for step in steps:
        inner = outer
        if isinstance(step, Repeat):
            if step.counter in scopes.common or step.counter in outer:
                problems.add(
                    step.span,
                    step.id,
                    f"the counter '{step.counter}' hides another name",
                    "set 'counter:' to a name not used elsewhere",
                )
            inner = {**outer, step.counter: NameType("integer")}
        scopes.counters[step.id] = outer
        for child in step.children():
            scopes.counters[child.id] = inner
        _counters(step.children(), inner, scopes, problems)
