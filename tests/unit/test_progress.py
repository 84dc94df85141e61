"""Progress as a navigator reads it: how far along, what is open, on track or not."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from pathways.runtime.definition import Definition
from pathways.runtime.engine import start, step
from pathways.runtime.events import (
    Enrolled,
    HoldRequested,
    ResumeRequested,
    TaskCompleted,
    TimerFired,
)
from pathways.runtime.progress import progress
from pathways.runtime.scenario import Scenario
from pathways.runtime.simulation import planned_end, project, simulate
from pathways.runtime.state import iso, moment
from tests.conftest import toronto, typical_patient

Definitions = Callable[[str], Definition]
T0 = toronto(2026, 11, 23, 9, 0)


def _open(state: dict[str, Any], key: str = "task") -> list[str]:
    return [i[key] for i in state["frame"]["active"].values() if i.get(key)]


def test_a_task_past_its_due_date_flags_the_enrollment_overdue(definitions: Definitions) -> None:
    chemotherapy = definitions("chemotherapy")
    state, _ = start(chemotherapy, Enrolled(), T0)
    first_due = progress(chemotherapy, state, T0).next_due
    assert first_due is not None
    assert progress(chemotherapy, state, first_due - timedelta(hours=1)).flag == "on_track"
    assert progress(chemotherapy, state, first_due + timedelta(hours=1)).flag == "overdue"


def test_a_dose_delay_puts_the_plan_at_risk(definitions: Definitions) -> None:
    chemotherapy = definitions("chemotherapy")
    state, _ = start(chemotherapy, Enrolled(), T0)
    state["planned_end"] = iso(planned_end(chemotherapy, state, T0))  # as the store does
    now = T0
    counts = {"anc": 2000, "platelets": 150000}
    while "pre_cycle_labs" not in state["frame"]["active"]:
        # the clinic works to plan: each task is done when it falls due
        step_id, instance = next((k, i) for k, i in state["frame"]["active"].items() if "task" in i)
        now = max(now, moment(instance["due"]))
        data = counts if step_id == "baseline_labs" else {}
        state, _ = step(chemotherapy, state, TaskCompleted(instance["task"], data), now)
        assert progress(chemotherapy, state, now).flag == "on_track"
    labs = state["frame"]["active"]["pre_cycle_labs"]
    now = moment(labs["due"])
    low = {"anc": 900, "platelets": 150000}
    state, _ = step(chemotherapy, state, TaskCompleted(labs["task"], low), now)
    assert "dose_delay" in state["frame"]["active"]
    report = progress(chemotherapy, state, now)
    assert report.flag == "at_risk"
    assert report.projected_end is not None and report.planned_end is not None
    assert report.projected_end > report.planned_end


def test_expected_steps_count_every_cycle(definitions: Definitions) -> None:
    chemotherapy = definitions("chemotherapy")
    two = progress(chemotherapy, start(chemotherapy, Enrolled({"cycles": 2}), T0)[0], T0)
    four = progress(chemotherapy, start(chemotherapy, Enrolled({"cycles": 4}), T0)[0], T0)
    per_cycle = 4  # labs, pharmacy verification, infusion, rest
    assert four.expected - two.expected == 2 * per_cycle
    assert (two.done, two.phase) == (0, "Baseline work-up")


def test_progress_moves_as_work_is_done_and_completes(definitions: Definitions) -> None:
    sbrt = definitions("radiation_sbrt")
    state, _ = start(sbrt, Enrolled(), T0)
    before = progress(sbrt, state, T0)
    now = T0 + timedelta(hours=2)
    state, _ = step(sbrt, state, TaskCompleted(_open(state)[0], {}), now)
    after = progress(sbrt, state, now)
    assert after.done == before.done + 1
    assert after.expected == before.expected

    timeline = simulate(sbrt, T0, Scenario())
    finished = progress(sbrt, timeline.state, timeline.end)
    assert (finished.flag, finished.done, finished.expected) == (
        "completed",
        finished.done,
        finished.done,
    )
    assert finished.done == sum(1 for row in timeline.rows if row.ended == "completed")


def test_work_in_a_sub_pathway_rolls_up_to_the_plan(definitions: Definitions) -> None:
    plan = definitions("multimodality_plan")
    state, _ = start(plan, Enrolled(patient=typical_patient(plan)), T0)
    report = progress(plan, state, T0)
    assert report.current and {step.pathway for step in report.current} == {"tumour_board@1"}
    now = T0 + timedelta(hours=1)
    state, _ = step(plan, state, TaskCompleted(report.current[0].task or "", {}), now)
    assert progress(plan, state, now).done == 1
    assert report.expected > 40  # board, chemotherapy, surgery and SBRT together


def test_a_held_wait_is_shown_with_its_remaining_time(definitions: Definitions) -> None:
    board = definitions("tumour_board")
    state, _ = start(board, Enrolled(patient=typical_patient(board)), T0)
    now = T0
    while not _open(state, "timer"):
        now += timedelta(hours=1)
        state, _ = step(board, state, TaskCompleted(_open(state)[0], {}), now)
    timer = _open(state, "timer")[0]
    due = progress(board, state, now).next_due
    state, _ = step(board, state, TimerFired(timer), due or now)
    assert progress(board, state, due or now).current[0].step == "board_discussion"


def test_progress_right_after_a_low_count_projects_the_usual_course(
    definitions: Definitions,
) -> None:
    chemotherapy = definitions("chemotherapy")
    state, _ = start(chemotherapy, Enrolled(), T0)
    labs = next(i["task"] for k, i in state["frame"]["active"].items() if k == "baseline_labs")
    state, _ = step(chemotherapy, state, TaskCompleted(labs, {"anc": 800, "platelets": 50000}), T0)
    report = progress(chemotherapy, state, T0)
    # later labs are not known yet, so the projection does not repeat the low count forever
    assert report.expected < 60
    assert report.projected_end is not None and report.projected_end < T0 + timedelta(days=400)


def test_an_enrollment_on_hold_still_shows_the_work_ahead(definitions: Definitions) -> None:
    chemotherapy = definitions("chemotherapy")
    state, _ = start(chemotherapy, Enrolled(), T0)
    state, _ = step(chemotherapy, state, HoldRequested("admitted with pneumonia"), T0)
    later = T0 + timedelta(days=10)
    report = progress(chemotherapy, state, later)
    assert report.flag == "on_hold"
    assert report.expected > report.done + 20
    assert report.projected_end is not None and report.projected_end > later + timedelta(days=90)
    assert report.next_due is not None and report.next_due > later  # as if resumed now


def test_a_task_overdue_before_a_hold_is_still_overdue_after_it(definitions: Definitions) -> None:
    chemotherapy = definitions("chemotherapy")
    state, _ = start(chemotherapy, Enrolled(), T0)
    late = T0 + timedelta(days=20)
    assert progress(chemotherapy, state, late).flag == "overdue"
    state, _ = step(chemotherapy, state, HoldRequested("family emergency"), late)
    state, _ = step(chemotherapy, state, ResumeRequested("back"), late + timedelta(days=3))
    assert progress(chemotherapy, state, late + timedelta(days=3)).flag == "overdue"


def test_a_projection_passed_in_gives_the_same_progress_as_one_made_inside(
    definitions: Definitions,
) -> None:
    chemotherapy = definitions("chemotherapy")
    state, _ = start(chemotherapy, Enrolled(), T0)
    later = T0 + timedelta(days=3)
    timeline = project(chemotherapy, state, later)
    assert progress(chemotherapy, state, later, timeline) == progress(chemotherapy, state, later)


def test_the_planned_end_is_the_usual_course_from_enrolment(definitions: Definitions) -> None:
    chemotherapy = definitions("chemotherapy")
    state, _ = start(chemotherapy, Enrolled({"cycles": 2}), T0)
    assert "planned_end" not in state  # enrolment no longer projects the whole course
    planned = planned_end(chemotherapy, state, T0)
    assert planned == simulate(chemotherapy, T0, Scenario({"cycles": 2})).end
    assert planned_end(chemotherapy, state, T0) == planned and "planned_end" not in state
    longer = start(chemotherapy, Enrolled({"cycles": 4}), T0)[0]
    assert planned_end(chemotherapy, longer, T0) > planned
