"""A pathway ready to run: its model, machine, calendar and the definitions it calls."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from pathways.calendars import ClinicCalendar
from pathways.library import Library
from pathways.machine import Machine, State, Transition, compile_pathway
from pathways.model import Call, Pathway, Step


class DefinitionError(Exception):
    """A definition that cannot run (missing, or with validation problems)."""


@dataclass(frozen=True)
class Definition:
    """Everything the engine needs to advance enrollments on one pathway version."""

    pathway: Pathway
    machine: Machine
    calendar: ClinicCalendar
    steps: dict[str, Step]
    states: dict[str, State]
    outgoing: dict[str, tuple[Transition, ...]]
    branches: dict[str, int]  # join state -> number of branches it waits for
    callees: dict[str, Definition] = field(default_factory=dict)

    @cached_property
    def key(self) -> str:
        """'id@version', as stored in enrollment state."""
        return f"{self.pathway.id}@{self.pathway.version}"

    def follow(self, state_id: str, trigger: str) -> Transition:
        """The transition a trigger takes out of a state."""
        for transition in self.outgoing[state_id]:
            if transition.trigger == trigger:
                return transition
        raise KeyError(f"{self.key}: no '{trigger}' transition out of '{state_id}'")


def load_definition(
    library: Library,
    pathway_id: str,
    version: int | None = None,
    calendars: dict[str, ClinicCalendar] | None = None,
) -> Definition:
    """Compile a pathway of a validated library, with every sub-pathway it calls."""
    pathway = library.get(pathway_id, version)
    if pathway is None:
        raise DefinitionError(f"no pathway '{pathway_id}' version {version or 'latest'}")
    problems = library.problems.get(pathway.file)
    if problems:
        raise DefinitionError(f"{pathway.file} has {len(problems.found)} validation problem(s)")
    calendars = calendars if calendars is not None else {}
    if pathway.calendar not in calendars:
        calendars[pathway.calendar] = ClinicCalendar(library.calendars[pathway.calendar])
    machine = compile_pathway(pathway)
    outgoing: dict[str, list[Transition]] = {state.id: [] for state in machine.states}
    for transition in machine.transitions:
        outgoing[transition.source].append(transition)
    steps = {step.id: step for step in pathway.walk()}
    callees = {
        step.id: load_definition(library, step.pathway, step.version, calendars)
        for step in steps.values()
        if isinstance(step, Call)
    }
    return Definition(
        pathway=pathway,
        machine=machine,
        calendar=calendars[pathway.calendar],
        steps=steps,
        states={state.id: state for state in machine.states},
        outgoing={state_id: tuple(moves) for state_id, moves in outgoing.items()},
        branches={
            f"{state.id}.join": sum(t.trigger == "forked" for t in outgoing[state.id])
            for state in machine.states
            if state.kind == "fork"
        },
        callees=callees,
    )
