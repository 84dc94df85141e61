"""Compilation into a flat state machine, and the flow checks that use it."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pathways.graph import spinning_loops, unreachable_steps
from pathways.machine import FINISH, START, Machine, compile_pathway
from pathways.problems import Problems
from pathways.reading.documents import read_document
from tests.conftest import check_yaml, messages

HEAD = """\
pathway: sketch
version: 1
title: Sketch
modality: chemotherapy
roles: [lab, oncology_nurse]
parameters:
  cycles: {type: integer, default: 2, minimum: 1, maximum: 6}
steps:
"""


def _machine(steps_yaml: str) -> Machine:
    problems = Problems("sketch.yaml")
    pathway = read_document(HEAD + steps_yaml, "sketch.yaml", problems)
    assert not problems, [problem.render() for problem in problems.found]
    assert pathway is not None and not isinstance(pathway, type(None))
    return compile_pathway(pathway)  # type: ignore[arg-type]


def _moves(machine: Machine) -> set[tuple[str, str, str]]:
    return {(t.source, t.target, t.trigger) for t in machine.transitions}


def test_a_repeat_loops_back_to_its_head_until_the_count_is_reached() -> None:
    machine = _machine("""\
  - id: cycle
    repeat: cycles
    steps:
      - {id: labs, task: "Cycle {cycle} labs", role: lab, due: P1D}
      - {id: infusion, task: Infusion, role: oncology_nurse, due: P1D}
""")
    guards = {(t.source, t.target): t.guard for t in machine.transitions}
    assert guards[("cycle", "labs")] == "cycle < cycles"
    assert ("infusion", "cycle", "task_ended") in _moves(machine)
    assert ("cycle", FINISH, "iterations_done") in _moves(machine)
    assert next(t for t in machine.transitions if t.source == "infusion").loops_back


def test_a_parallel_step_forks_to_each_branch_and_joins_before_going_on() -> None:
    machine = _machine("""\
  - id: workup
    parallel:
      - {id: labs, task: Labs, role: lab, due: P1D}
      - {id: teaching, task: Teaching, role: oncology_nurse, due: P1D}
  - {id: infusion, task: Infusion, role: oncology_nurse, due: P1D}
""")
    moves = _moves(machine)
    assert {("workup", "labs", "forked"), ("workup", "teaching", "forked")} <= moves
    assert {("labs", "workup.join", "task_ended"), ("teaching", "workup.join", "task_ended")} <= (
        moves
    )
    assert ("workup.join", "infusion", "joined") in moves


def test_a_conditional_step_can_be_skipped_straight_to_the_next() -> None:
    machine = _machine("""\
  - {id: port, when: "cycles > 3", task: Port, role: oncology_nurse, due: P7D}
  - {id: infusion, task: Infusion, role: oncology_nurse, due: P1D}
""")
    skip = next(t for t in machine.transitions if t.trigger == "skipped")
    assert (skip.source, skip.target, skip.guard) == ("port", "infusion", "not (cycles > 3)")


def test_unreachable_and_spinning_steps_are_found_on_the_machine() -> None:
    machine = _machine("""\
  - {id: tell, notify: "Counts low", to: lab}
  - id: check
    decide:
      - {if: "cycles > 1", then: tell}
  - {id: stop, end: completed}
  - {id: orphan, task: Never, role: lab, due: P1D}
""")
    assert unreachable_steps(machine) == ["orphan"]
    assert spinning_loops(machine) == [["tell", "check", "tell"]]


def test_a_dose_delay_loop_through_a_wait_and_a_task_is_not_a_spin(tmp_path: Path) -> None:
    problems = check_yaml(
        HEAD
        + """\
  - id: cycle
    repeat: cycles
    steps:
      - {id: labs, task: Labs, role: lab, due: P1D, record: {anc: number}}
      - id: counts
        decide:
          - {if: "anc < 1500", then: delay}
        else: infusion
      - {id: delay, wait: P7D, then: labs}
      - {id: infusion, task: Infusion, role: oncology_nurse, due: P1D}
""",
        tmp_path,
    )
    assert messages(problems) == []


# -- property: any well-formed nesting of steps validates and compiles into a machine in
#    which every step is reachable and the finish can be reached from the start.

_counter = iter(range(10**9))


def _leaf() -> st.SearchStrategy[str]:
    def build(kind: str) -> str:
        n = next(_counter)
        return {
            "task": f"{{id: s{n}, task: Step {n}, role: lab, due: P1D}}",
            "wait": f"{{id: s{n}, wait: P2D}}",
            "working": f"{{id: s{n}, wait: {{working_days: 1}}}}",
            "notify": f"{{id: s{n}, notify: Note {n}, to: oncology_nurse}}",
            "when": f"{{id: s{n}, when: 'cycles > 1', task: Maybe {n}, role: lab, due: P1D}}",
        }[kind]

    return st.sampled_from(["task", "wait", "working", "notify", "when"]).map(build)


def _composite(children: st.SearchStrategy[list[str]]) -> st.SearchStrategy[str]:
    def build(kind: str, body: list[str]) -> str:
        n = next(_counter)
        items = ", ".join(body)
        return {
            "parallel": f"{{id: s{n}, parallel: [{items}]}}",
            "repeat": f"{{id: s{n}, repeat: cycles, counter: c{n}, steps: [{items}]}}",
            "phase": f"{{id: s{n}, title: Phase {n}, steps: [{items}]}}",
        }[kind]

    return st.builds(build, st.sampled_from(["parallel", "repeat", "phase"]), children)


_steps = st.recursive(
    _leaf(), lambda inner: _composite(st.lists(inner, min_size=1, max_size=3)), max_leaves=12
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_steps, min_size=1, max_size=5))
def test_any_well_formed_nesting_validates_and_reaches_its_finish(steps: list[str]) -> None:
    text = HEAD + "".join(f"  - {step}\n" for step in steps)
    problems = Problems("generated.yaml")
    pathway = read_document(text, "generated.yaml", problems)
    assert pathway is not None and not problems, [p.render() for p in problems.found]
    from pathways.validator import check_pathway

    check_pathway(pathway, problems)  # type: ignore[arg-type]
    assert not problems, [p.render() for p in problems.found]
    machine = compile_pathway(pathway)  # type: ignore[arg-type]
    assert unreachable_steps(machine) == []
    reached, frontier = {START}, [START]
    while frontier:
        for transition in machine.outgoing(frontier.pop()):
            if transition.target not in reached:
                reached.add(transition.target)
                frontier.append(transition.target)
    assert FINISH in reached
