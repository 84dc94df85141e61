"""Scenarios a care navigator would recognise, run through the engine in simulated time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from itertools import pairwise

import pytest

from pathways.library import definition_files
from pathways.runtime.definition import Definition
from pathways.runtime.effects import CreateTask, EnrollmentChanged, ScheduleTimer, UpdateTask
from pathways.runtime.engine import start, step
from pathways.runtime.events import (
    AdverseEventReported,
    Enrolled,
    EventRejected,
    HoldRequested,
    ResumeRequested,
    TaskCompleted,
    TimerFired,
)
from pathways.runtime.progress import progress
from pathways.runtime.scenario import Scenario
from pathways.runtime.simulation import Timeline, simulate
from tests.conftest import DEFINITIONS, toronto, typical_patient

Definitions = Callable[[str], Definition]
PATHWAY_IDS = sorted(
    path.read_text().split("pathway: ", 1)[1].split()[0]
    for path in definition_files([DEFINITIONS])
    if "calendars" not in path.parts
)


@pytest.mark.parametrize("pathway_id", PATHWAY_IDS)
def test_every_shipped_pathway_simulates_to_its_end(
    definitions: Definitions, pathway_id: str
) -> None:
    definition = definitions(pathway_id)
    timeline = simulate(
        definition, toronto(2026, 11, 23, 8, 0), Scenario(patient=typical_patient(definition))
    )
    assert timeline.status == "completed", timeline.note
    assert timeline.state["handler_tasks"] == {}
    assert all(row.done is not None for row in timeline.rows)


def test_chemotherapy_delays_a_cycle_a_week_when_the_anc_is_low(definitions: Definitions) -> None:
    chemotherapy = definitions("chemotherapy")
    ok, low = {"anc": 2100, "platelets": 180000}, {"anc": 1100, "platelets": 160000}
    timeline = simulate(
        chemotherapy,
        toronto(2026, 11, 23, 8, 0),
        Scenario(
            parameters={"cycles": 3},
            record={"baseline_labs": (ok,), "pre_cycle_labs": (ok, low, ok, ok)},
        ),
    )
    labs = [row for row in timeline.rows if row.step == "pre_cycle_labs"]
    infusions = [row for row in timeline.rows if row.step == "infusion"]
    delays = [row for row in timeline.rows if row.step == "dose_delay"]
    assert (len(labs), len(infusions), len(delays)) == (4, 3, 1)
    assert delays[0].due - delays[0].ready == timedelta(days=7)
    assert labs[2].ready >= delays[0].due  # the recheck after the delay
    assert "Cycle 2" in labs[2].title and infusions[1].ready > labs[2].ready
    assert timeline.outcome == "completed"


def test_ten_weekday_radiation_fractions_skip_a_public_holiday(definitions: Definitions) -> None:
    radiation = definitions("radiation_conventional")
    timeline = simulate(
        radiation,
        toronto(2026, 6, 1, 8, 0),
        Scenario(
            parameters={"fractions": 10},
            patient=typical_patient(radiation),
        ),
    )
    calendar = radiation.calendar
    days = [
        calendar.local(row.done).date()
        for row in timeline.rows
        if row.step == "deliver_fraction" and row.done
    ]
    assert len(days) == 10
    assert days[0] < date(2026, 7, 1) < days[-1], "the course should span Canada Day"
    assert date(2026, 7, 1) not in days
    assert all(calendar.is_open(day) for day in days)
    for before, after in pairwise(days):
        assert after == calendar.next_open_day(before), "one fraction per clinic day"


def test_a_tumour_board_case_waits_for_the_next_wednesday_slot(definitions: Definitions) -> None:
    board = definitions("tumour_board")
    thursday = toronto(2026, 11, 26, 9, 0)
    timeline = simulate(
        board,
        thursday,
        Scenario(
            patient=typical_patient(board),
            record={
                "board_discussion": (
                    {"board_decision": "sbrt", "escc_grade": "1a", "sins_total": 5},
                )
            },
        ),
    )
    wait = next(row for row in timeline.rows if row.step == "next_board")
    meeting = board.calendar.local(wait.due)
    assert (meeting.date(), meeting.hour, meeting.minute) == (date(2026, 12, 2), 7, 0)
    discussion = next(row for row in timeline.rows if row.step == "board_discussion")
    assert discussion.ready == wait.due
    assert timeline.outcome == "sbrt"


def test_a_grade_3_adverse_event_holds_then_resumes_with_due_dates_shifted(
    definitions: Definitions,
) -> None:
    chemotherapy = definitions("chemotherapy")
    t0 = toronto(2026, 11, 23, 9, 0)
    state, effects = start(chemotherapy, Enrolled(), t0)
    due_before = {e.task: e.due for e in effects if isinstance(e, CreateTask)}

    held_at = t0 + timedelta(days=1)
    state, effects = step(
        chemotherapy, state, AdverseEventReported("febrile neutropenia", 3), held_at
    )
    assert state["status"] == "on_hold"
    review = next(e for e in effects if isinstance(e, CreateTask))
    assert review.role == "medical_oncologist" and "grade 3 febrile neutropenia" in review.title
    assert {e.task for e in effects if isinstance(e, UpdateTask)} == set(due_before)
    assert progress(chemotherapy, state, held_at).flag == "on_hold"
    some_task = next(iter(due_before))
    with pytest.raises(EventRejected, match="on hold"):
        step(chemotherapy, state, TaskCompleted(some_task, {}), held_at)

    resumed_at = held_at + timedelta(days=5)
    state, effects = step(
        chemotherapy, state, TaskCompleted(review.task, {"decision": "reduce_dose"}), resumed_at
    )
    assert state["status"] == "active"
    assert EnrollmentChanged("active", reason=f"review {review.task}: reduce_dose") in effects
    shifted = {e.task: e.due for e in effects if isinstance(e, UpdateTask)}
    # What was left of each deadline is kept, landing on a clinic day.
    calendar = chemotherapy.calendar
    assert shifted == {
        task: calendar.on_open_day(due + timedelta(days=5)) for task, due in due_before.items()
    }
    assert any(
        calendar.on_open_day(due + timedelta(days=5)) != due + timedelta(days=5)
        for due in due_before.values()
    ), "this case should cross a weekend"
    assert state["frame"]["data"]["decision"] == "reduce_dose"


def _open_tasks(state: dict[str, object]) -> list[str]:
    frame = state["frame"]
    assert isinstance(frame, dict)
    return [instance["task"] for instance in frame["active"].values() if "task" in instance]


def test_a_held_wait_fires_later_by_the_time_it_was_held(definitions: Definitions) -> None:
    board = definitions("tumour_board")
    now = toronto(2026, 11, 26, 9, 0)
    state, effects = start(board, Enrolled(patient=typical_patient(board)), now)
    while not any(isinstance(e, ScheduleTimer) for e in effects):
        now += timedelta(hours=1)
        state, effects = step(board, state, TaskCompleted(_open_tasks(state)[0], {}), now)
    timer = next(e for e in effects if isinstance(e, ScheduleTimer))
    assert timer.step == "next_board"

    state, _ = step(board, state, HoldRequested("patient admitted"), now)
    with pytest.raises(EventRejected, match="not pending"):
        step(board, state, TimerFired(timer.timer), timer.due)
    later = now + timedelta(days=3)
    state, effects = step(board, state, ResumeRequested("discharged"), later)
    rescheduled = next(e for e in effects if isinstance(e, ScheduleTimer))
    assert rescheduled.due == timer.due + timedelta(days=3)
    assert rescheduled.timer != timer.timer


def _plan_after_board(definitions: Definitions, decision: str, escc: str, sins: int) -> Timeline:
    plan = definitions("multimodality_plan")
    board = {"board_decision": decision, "escc_grade": escc, "sins_total": sins}
    scenario = Scenario(patient=typical_patient(plan), record={"board_discussion": (board,)})
    return simulate(plan, toronto(2026, 11, 23, 8, 0), scenario)


def test_the_multimodality_plan_runs_board_chemotherapy_surgery_and_sbrt_end_to_end(
    definitions: Definitions,
) -> None:
    timeline = _plan_after_board(definitions, "surgery_then_sbrt", "2", 9)
    assert (timeline.status, timeline.outcome) == ("completed", "completed")
    pathways_in_order = list(dict.fromkeys(row.pathway for row in timeline.rows))
    assert pathways_in_order == [
        "tumour_board@1",
        "chemotherapy@2",
        "surgery@2",
        "radiation_sbrt@2",
    ]
    infusions = [row for row in timeline.rows if row.step == "infusion"]
    assert len(infusions) == 3  # neoadjuvant_cycles
    assert timeline.state["frame"]["work"] == sum(
        1 for row in timeline.rows if row.ended == "completed"
    )


def test_the_plan_ends_early_when_the_board_chooses_another_route(
    definitions: Definitions,
) -> None:
    timeline = _plan_after_board(definitions, "conventional_rt", "1a", 3)
    assert timeline.outcome == "board_chose_another_plan"
    assert {row.pathway for row in timeline.rows} == {"tumour_board@1"}
