"""Every shipped definition validates, compiles into a machine and renders a diagram."""

from __future__ import annotations

from pathlib import Path

import pytest

from pathways.diagram import mermaid
from pathways.library import Library, definition_files
from pathways.machine import FINISH, START, compile_pathway
from pathways.model import Call, Pathway, Task
from tests.conftest import DEFINITIONS

PATHWAY_FILES = [path for path in definition_files([DEFINITIONS]) if "calendars" not in path.parts]


def test_the_library_has_no_problems(library: Library) -> None:
    assert [problem.render() for problem in library.report()] == []


def test_the_library_covers_every_modality_the_clinic_runs(library: Library) -> None:
    ids = {pathway_id for pathway_id, _ in library.pathways}
    assert {
        "tumour_board",
        "surgery",
        "radiation_conventional",
        "radiation_sbrt",
        "chemotherapy",
        "clinical_trial_screening",
        "surveillance_imaging",
        "multimodality_plan",
    } <= ids
    assert "tumour_board" in library.calendars["clinic"].slots


def _pathway(library: Library, file: str) -> Pathway:
    return next(p for p in library.pathways.values() if p.file == file)


@pytest.mark.parametrize("path", PATHWAY_FILES, ids=lambda path: path.stem)
def test_each_definition_compiles_into_a_machine_from_start_to_finish(
    library: Library, path: Path
) -> None:
    pathway = _pathway(library, str(path))
    machine = compile_pathway(pathway)
    state_ids = {state.id for state in machine.states}
    assert {START, FINISH} <= state_ids
    assert {step.id for step in pathway.walk()} <= state_ids
    for transition in machine.transitions:
        assert transition.source in state_ids and transition.target in state_ids


@pytest.mark.parametrize("path", PATHWAY_FILES, ids=lambda path: path.stem)
def test_each_definition_renders_a_mermaid_flowchart_naming_every_task(
    library: Library, path: Path
) -> None:
    pathway = _pathway(library, str(path))
    text = mermaid(compile_pathway(pathway))
    assert text.startswith("flowchart TD\n")
    for step in pathway.walk():
        if isinstance(step, Task):
            assert f"s_{step.id}[" in text


@pytest.mark.parametrize("path", PATHWAY_FILES, ids=lambda path: path.stem)
def test_each_definition_cites_its_sources(path: Path) -> None:
    assert "# sources:" in path.read_text(encoding="utf-8").lower()


def test_the_multimodality_plan_calls_board_chemotherapy_surgery_and_sbrt(
    library: Library,
) -> None:
    plan = library.get("multimodality_plan")
    assert plan is not None
    called = [step.pathway for step in plan.walk() if isinstance(step, Call)]
    assert called == ["tumour_board", "chemotherapy", "surgery", "radiation_sbrt"]


def test_adverse_events_of_grade_3_hold_chemotherapy_for_an_oncologist_review(
    library: Library,
) -> None:
    chemotherapy = library.get("chemotherapy")
    assert chemotherapy is not None
    holding = [h for h in chemotherapy.handlers["adverse_event"] if h.hold]
    assert holding and holding[0].task is not None
    assert holding[0].task.role == "medical_oncologist"
    assert holding[0].condition is not None
    defaults = {name: field.default for name, field in chemotherapy.parameters.items()}
    grade_3 = {**defaults, "grade": 3, "term": "neutropenia"}
    grade_2 = {**defaults, "grade": 2, "term": "nausea"}
    assert holding[0].condition.evaluate(grade_3) is True
    assert holding[0].condition.evaluate(grade_2) is False
