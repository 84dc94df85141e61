"""The engine's answers to the events staff, navigators and the EHR send it."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from pathways.runtime.definition import Definition
from pathways.runtime.effects import CancelTask, CreateTask, EnrollmentChanged
from pathways.runtime.engine import start, step
from pathways.runtime.events import (
    AdverseEventReported,
    Enrolled,
    Event,
    EventRejected,
    HoldRequested,
    PathwayEventOccurred,
    ResultRecorded,
    ResumeRequested,
    TaskCompleted,
    TaskSkipped,
    TimerFired,
    WithdrawalRequested,
)
from pathways.runtime.progress import progress
from tests.conftest import toronto, typical_patient

Definitions = Callable[[str], Definition]
T0 = toronto(2026, 11, 23, 9, 0)


def _task(effects: list[Any], step_id: str) -> str:
    return next(e.task for e in effects if isinstance(e, CreateTask) and e.step == step_id)


def _rejects(definition: Definition, state: dict[str, Any], event: Event, reason: str) -> None:
    before = json.dumps(state, sort_keys=True)
    with pytest.raises(EventRejected, match=reason):
        step(definition, state, event, T0 + timedelta(hours=1))
    assert json.dumps(state, sort_keys=True) == before


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"anc": "low", "platelets": 150000}, "'anc': 'low' is not a number"),
        ({"anc": 1800}, "'platelets' must be recorded"),
        ({"anc": 1800, "platelets": 150000, "hb": 12}, "'hb' is not part of this task"),
    ],
)
def test_recorded_data_that_does_not_fit_the_form_is_rejected_and_changes_nothing(
    definitions: Definitions, data: dict[str, Any], reason: str
) -> None:
    chemotherapy = definitions("chemotherapy")
    state, effects = start(chemotherapy, Enrolled(), T0)
    _rejects(chemotherapy, state, TaskCompleted(_task(effects, "baseline_labs"), data), reason)


@pytest.mark.parametrize(
    ("enrolled", "reason"),
    [
        (Enrolled(parameters={"cycles": 20}), "parameter 'cycles': 20 is above the maximum 12"),
        (Enrolled(parameters={"cylces": 4}), "unknown parameter 'cylces'"),
        (Enrolled(parameters={"needs_port": "yes"}), "'yes' is not a boolean"),
    ],
)
def test_enrolment_checks_parameters_at_the_edge(
    definitions: Definitions, enrolled: Enrolled, reason: str
) -> None:
    with pytest.raises(EventRejected, match=reason):
        start(definitions("chemotherapy"), enrolled, T0)


def test_enrolment_asks_for_the_patient_attributes_a_pathway_reads(
    definitions: Definitions,
) -> None:
    with pytest.raises(EventRejected, match="patient attribute 'bilsky_grade' is required"):
        start(definitions("tumour_board"), Enrolled(), T0)


def test_enrolment_creates_the_parallel_work_up_tasks_with_clinic_due_dates(
    definitions: Definitions,
) -> None:
    chemotherapy = definitions("chemotherapy")
    state, effects = start(chemotherapy, Enrolled(), T0)
    created = {e.step: e for e in effects if isinstance(e, CreateTask)}
    assert {"baseline_labs", "baseline_imaging", "medication_review", "teaching"} <= set(created)
    assert created["baseline_labs"].role == "lab"
    assert created["baseline_labs"].record == ("anc", "platelets")
    assert all(
        chemotherapy.calendar.is_open(chemotherapy.calendar.local(e.due).date())
        for e in created.values()
    )
    assert progress(chemotherapy, state, T0).flag == "on_track"


def test_a_decision_without_its_data_holds_until_the_result_arrives(
    definitions: Definitions,
) -> None:
    chemotherapy = definitions("chemotherapy")
    state, effects = start(chemotherapy, Enrolled(), T0)
    now = T0
    while not any(i.get("stuck") for i in state["frame"]["active"].values()):
        open_task = next(i["task"] for i in state["frame"]["active"].values() if "task" in i)
        now += timedelta(hours=2)
        state, effects = step(chemotherapy, state, TaskSkipped(open_task, "done elsewhere"), now)
    assert state["status"] == "on_hold"
    held = next(e for e in effects if isinstance(e, EnrollmentChanged))
    assert "decision 'counts_check'" in held.reason and "'anc' has no value yet" in held.reason

    lab = ResultRecorded("lab_result", {"test": "anc", "value": 1900.0, "unit": "/uL"})
    state, _ = step(chemotherapy, state, lab, now)
    lab = ResultRecorded("lab_result", {"test": "platelets", "value": 150000.0, "unit": "/uL"})
    state, _ = step(chemotherapy, state, lab, now)
    state, effects = step(chemotherapy, state, ResumeRequested("labs arrived from outside"), now)
    assert state["status"] == "active"
    assert any(isinstance(e, CreateTask) and e.step == "pharmacy_verification" for e in effects)


def test_a_navigator_cannot_resume_over_a_clinical_review(definitions: Definitions) -> None:
    chemotherapy = definitions("chemotherapy")
    state, _ = start(chemotherapy, Enrolled(), T0)
    state, effects = step(chemotherapy, state, AdverseEventReported("neutropenia", 3), T0)
    review = _task(effects, "on.adverse_event[1]")
    _rejects(chemotherapy, state, ResumeRequested("looks fine"), f"complete review task {review}")
    _rejects(chemotherapy, state, TaskSkipped(review, "busy"), "complete it with a decision")


def test_a_review_that_decides_stop_stops_the_enrollment_and_cancels_its_tasks(
    definitions: Definitions,
) -> None:
    chemotherapy = definitions("chemotherapy")
    state, first = start(chemotherapy, Enrolled(), T0)
    state, effects = step(chemotherapy, state, AdverseEventReported("neutropenia", 4), T0)
    review = _task(effects, "on.adverse_event[1]")
    state, effects = step(chemotherapy, state, TaskCompleted(review, {"decision": "stop"}), T0)
    assert (state["status"], state["outcome"]) == ("stopped", "stopped_after_review")
    cancelled = {e.task for e in effects if isinstance(e, CancelTask)}
    assert cancelled == {e.task for e in first if isinstance(e, CreateTask)}
    _rejects(chemotherapy, state, HoldRequested("x"), "the enrollment is stopped")


def test_a_grade_5_event_stops_at_once(definitions: Definitions) -> None:
    chemotherapy = definitions("chemotherapy")
    state, _ = start(chemotherapy, Enrolled(), T0)
    state, _ = step(chemotherapy, state, AdverseEventReported("sepsis", 5), T0)
    assert (state["status"], state["outcome"]) == ("stopped", "died")


def test_a_low_grade_event_notifies_the_nurse_and_is_not_dropped(
    definitions: Definitions,
) -> None:
    chemotherapy = definitions("chemotherapy")
    state, _ = start(chemotherapy, Enrolled(), T0)
    state, effects = step(chemotherapy, state, AdverseEventReported("nausea", 1), T0)
    assert state["status"] == "active"
    assert [type(e).__name__ for e in effects] == ["Notify", "AuditEntry"]


def test_withdrawal_cancels_every_open_task(definitions: Definitions) -> None:
    chemotherapy = definitions("chemotherapy")
    state, first = start(chemotherapy, Enrolled(), T0)
    state, effects = step(chemotherapy, state, WithdrawalRequested("moved away"), T0)
    assert state["status"] == "withdrawn"
    assert {e.task for e in effects if isinstance(e, CancelTask)} == {
        e.task for e in first if isinstance(e, CreateTask)
    }


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (
            PathwayEventOccurred("surgical_complication", {"kind": "fever", "details": "38.5"}),
            "'kind': 'fever' is not one of the enum values",
        ),
        (PathwayEventOccurred("wound_dehiscence", {}), "no running pathway declares"),
        (AdverseEventReported("nausea", 7), "CTCAE grade must be 1 to 5"),
        (ResultRecorded("pathology", {}), "'pathology' is not a result kind"),
        (ResumeRequested("why not"), "not on hold"),
        (HoldRequested(" "), "say why"),
        (TaskSkipped("T1", ""), "say why"),
    ],
)
def test_events_that_do_not_apply_are_rejected_with_a_reason(
    definitions: Definitions, event: Event, reason: str
) -> None:
    surgery = definitions("surgery")
    state, _ = start(surgery, Enrolled(patient=typical_patient(surgery)), T0)
    _rejects(surgery, state, event, reason)


def test_a_declared_complication_creates_its_review_task(definitions: Definitions) -> None:
    surgery = definitions("surgery")
    state, _ = start(surgery, Enrolled(patient=typical_patient(surgery)), T0)
    state, effects = step(
        surgery,
        state,
        PathwayEventOccurred(
            "surgical_complication", {"kind": "csf_leak", "details": "clear fluid at incision"}
        ),
        T0,
    )
    created = [e for e in effects if isinstance(e, CreateTask)]
    assert len(created) == 1 and created[0].role == "surgeon"


def test_a_navigator_can_record_the_data_a_stuck_decision_needs(
    definitions: Definitions,
) -> None:
    from pathways.runtime.events import DataRecorded

    board = definitions("tumour_board")
    state, _ = start(board, Enrolled(patient=typical_patient(board)), T0)
    now = T0
    while state["status"] == "active":
        instance = next(i for i in state["frame"]["active"].values() if "task" in i or "timer" in i)
        now += timedelta(hours=1)
        event: Event = (
            TaskSkipped(instance["task"], "discussed by phone")
            if "task" in instance
            else TimerFired(instance["timer"])
        )
        state, _ = step(board, state, event, now)
    assert "'sins_total' has no value yet" in state["holds"][0]["reason"]
    _rejects(
        board,
        state,
        DataRecorded("board_discussion", {"board_decision": "maybe"}, "call"),
        "'maybe' is not one of the enum values",
    )
    decided = {"board_decision": "sbrt", "escc_grade": "1a", "sins_total": 4}
    state, _ = step(board, state, DataRecorded("board_discussion", decided, "by phone"), now)
    state, _ = step(board, state, ResumeRequested("decision recorded"), now)
    assert (state["status"], state["outcome"]) == ("completed", "sbrt")


def test_a_handler_notification_keeps_its_priority(definitions: Definitions) -> None:
    chemotherapy = definitions("chemotherapy")
    state, _ = start(chemotherapy, Enrolled(), T0)
    lab = ResultRecorded("lab_result", {"test": "anc", "value": 300.0, "unit": "/uL"})
    _, effects = step(chemotherapy, state, lab, T0)
    notices = [e for e in effects if type(e).__name__ == "Notify"]
    assert notices and notices[0].priority == "stat"
