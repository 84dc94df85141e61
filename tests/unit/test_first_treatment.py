"""`treatment: true` in the language, and the moment of the first treatment in the state.

Days to first treatment are read from what the engine recorded when the first step marked as
treatment was completed, in any frame; replaying the log must record the same moment.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from pathways.library import Library, load
from pathways.model import Task
from pathways.runtime.definition import Definition, load_definition
from pathways.runtime.effects import CreateTask
from pathways.runtime.engine import start, step
from pathways.runtime.events import Enrolled, TaskCompleted, TaskSkipped
from pathways.runtime.scenario import Scenario
from pathways.runtime.simulation import simulate
from pathways.runtime.state import FIRST_TREATMENT, iso
from pathways.schema import pathway_schema
from tests.conftest import DEFINITIONS, check_yaml, toronto, typical_patient

Definitions = Callable[[str], Definition]
T0 = toronto(2026, 11, 23, 9, 0)
HOUR = timedelta(hours=1)

PATHWAY = """\
pathway: one_fraction
version: 1
title: One fraction
modality: radiation
roles: [radiation_therapist]
steps:
  - {{id: simulation, task: CT simulation, role: radiation_therapist, due: P2D}}
  - {step}
"""


def _problems(tmp_path: Path, step_text: str) -> list[Any]:
    return check_yaml(PATHWAY.format(step=step_text), tmp_path, "one_fraction.yaml")


def test_a_task_step_may_be_marked_as_treatment(tmp_path: Path) -> None:
    text = "{id: fraction, task: Deliver, treatment: true, role: radiation_therapist, due: PT12H}"
    assert _problems(tmp_path, text) == []


@pytest.mark.parametrize(
    ("step_text", "message", "hint"),
    [
        (
            "{id: fraction, task: Deliver, treatment: yes please, role: radiation_therapist, "
            "due: PT12H}",
            "'treatment' must be true or false, got 'yes please'",
            "write treatment: true on the task that delivers the treatment",
        ),
        (
            "{id: rest, wait: P1D, treatment: true}",
            "'treatment' marks a task step, not a wait step",
            "put treatment: true on the task that delivers the treatment",
        ),
        (
            "{id: plan, call: radiation_sbrt, treatment: true}",
            "'treatment' marks a task step, not a call step",
            "(the called pathway's own task counts)",
        ),
    ],
)
def test_treatment_of_the_wrong_type_or_on_the_wrong_step_is_reported_where_written(
    tmp_path: Path, step_text: str, message: str, hint: str
) -> None:
    problems = _problems(tmp_path, step_text)
    assert len(problems) == 1, [problem.render() for problem in problems]
    [problem] = problems
    assert problem.message.startswith(message) and hint in problem.hint
    assert problem.file.endswith("one_fraction.yaml") and problem.line == 8
    assert problem.render().count("hint:") == 1


def test_a_handler_task_cannot_be_a_treatment(tmp_path: Path) -> None:
    text = (
        "{id: fraction, task: Deliver, role: radiation_therapist, due: PT12H}\n"
        "on:\n  adverse_event:\n"
        "    - {task: Review, role: radiation_therapist, due: P1D, treatment: true}\n"
    )
    assert any("unknown key 'treatment'" in p.message for p in _problems(tmp_path, text))


def test_the_schema_offers_treatment_on_task_steps_only() -> None:
    variants = pathway_schema()["$defs"]["step"]["oneOf"]
    marked = {v["title"] for v in variants if "treatment" in v["properties"]}
    assert marked == {"task step"}
    task = next(v for v in variants if v["title"] == "task step")
    assert task["properties"]["treatment"]["type"] == "boolean"


def test_the_shipped_library_marks_its_treatments(library: Library) -> None:
    marked = {
        (pathway.id, step.id)
        for pathway in library.pathways.values()
        for step in pathway.walk()
        if isinstance(step, Task) and step.treatment
    }
    assert marked == {
        ("chemotherapy", "infusion"),
        ("surgery", "operation"),
        ("radiation_conventional", "deliver_fraction"),
        ("radiation_sbrt", "deliver_fraction"),
    }


def _completed(rows: list[Any], step_id: str) -> list[Any]:
    return sorted(
        (row.done for row in rows if row.step == step_id and row.ended == "completed"),
    )


def test_the_first_infusion_sets_first_treatment_and_the_second_does_not_move_it(
    definitions: Definitions,
) -> None:
    timeline = simulate(definitions("chemotherapy"), T0)
    infusions = _completed(timeline.rows, "infusion")
    assert len(infusions) >= 2 and infusions[0] < infusions[1]
    assert timeline.state[FIRST_TREATMENT] == iso(infusions[0])


def test_a_treatment_inside_a_sub_pathway_counts_for_the_plan(
    definitions: Definitions,
) -> None:
    plan = definitions("multimodality_plan")
    patient = {"bilsky_grade": "2", "sins": 9, "radiosensitive": False, "smoker": False}
    timeline = simulate(plan, T0, _scenario(patient))
    treated = sorted(
        row.done
        for row in timeline.rows
        if row.ended == "completed"
        and (row.pathway.split("@")[0], row.step)
        in {
            ("chemotherapy", "infusion"),
            ("surgery", "operation"),
            ("radiation_sbrt", "deliver_fraction"),
        }
    )
    assert treated, "the plan ran no treatment"
    assert timeline.state[FIRST_TREATMENT] == iso(treated[0])


def _scenario(patient: dict[str, Any]) -> Scenario:
    return Scenario(patient=patient)


def _open(effects: list[Any], step_id: str) -> str:
    return next(e.task for e in effects if isinstance(e, CreateTask) and e.step == step_id)


def test_until_a_treatment_is_completed_the_state_has_none(definitions: Definitions) -> None:
    surgery = definitions("surgery")
    state, _ = start(surgery, Enrolled(patient=typical_patient(surgery)), T0)
    assert FIRST_TREATMENT not in state


TWO_TREATMENTS = """\
pathway: two_treatments
version: 1
title: Two treatments in a row
modality: radiation
roles: [radiation_therapist]
steps:
  - {id: first, task: First fraction, treatment: true, role: radiation_therapist, due: P1D}
  - {id: second, task: Second fraction, treatment: true, role: radiation_therapist, due: P1D}
  - {id: review, task: Review, role: radiation_therapist, due: P1D}
"""


def test_a_skipped_treatment_is_none_and_the_first_completed_one_counts(tmp_path: Path) -> None:
    path = tmp_path / "two_treatments.yaml"
    path.write_text(TWO_TREATMENTS, encoding="utf-8")
    definition = load_definition(load([path], [DEFINITIONS]), "two_treatments")
    state, effects = start(definition, Enrolled(), T0)
    state, effects = step(
        definition, state, TaskSkipped(_open(effects, "first"), "not needed"), T0 + HOUR
    )
    assert FIRST_TREATMENT not in state
    state, effects = step(definition, state, TaskCompleted(_open(effects, "second")), T0 + 2 * HOUR)
    assert state[FIRST_TREATMENT] == iso(T0 + 2 * HOUR)
    state, _ = step(definition, state, TaskCompleted(_open(effects, "review")), T0 + 3 * HOUR)
    assert state[FIRST_TREATMENT] == iso(T0 + 2 * HOUR)  # a later task does not move it
