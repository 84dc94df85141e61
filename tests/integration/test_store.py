"""The durable side on SQLite and PostgreSQL: definitions, enrolment, events, tasks, sweeps."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from pathways.runtime.events import EventRejected
from pathways.store.applying import apply_event
from pathways.store.definitions import DefinitionRejected, publish, publish_directory
from pathways.store.enrollments import enrol, record_event, register_patient
from pathways.store.replay import replay
from pathways.store.staff_tasks import (
    TaskConflict,
    claim_task,
    complete_task,
    escalate_overdue,
    queue,
    reassign_task,
    skip_task,
)
from pathways.store.sweeps import fire_due_timers, unprocessed_events
from pathways.store.tables import (
    AuditLog,
    Enrollment,
    OutboxMessage,
    PathwayDefinition,
    PathwayEvent,
    StaffTask,
    StaffTaskStatusChange,
)
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork
from tests.conftest import DEFINITIONS, toronto

T0 = toronto(2026, 11, 23, 9, 0)
NURSE = "nurse.jones"


@pytest.fixture
def library(engine: Engine) -> Engine:
    """The shipped library, published."""
    with SqlAlchemyUnitOfWork(engine) as uow:
        publish_directory(uow.session, DEFINITIONS, "informaticist", T0)
        uow.commit()
    return engine


@pytest.fixture
def chemo(library: Engine) -> Iterator[str]:
    """A patient enrolled on chemotherapy at T0; the enrollment id."""
    with SqlAlchemyUnitOfWork(library) as uow:
        patient = register_patient(uow, "MRN-001", "Patient One", "navigator.kim", T0)
        enrollment = enrol(
            uow, patient.id, "chemotherapy", None, {"cycles": 2}, {}, "navigator.kim", T0
        )
        uow.commit()
        yield enrollment.id


def _tasks(engine: Engine, enrollment_id: str, status: str = "ready") -> dict[str, StaffTask]:
    with Session(engine) as session:
        return {
            t.step: t
            for t in session.exec(
                select(StaffTask).where(
                    StaffTask.enrollment_id == enrollment_id, StaffTask.status == status
                )
            )
        }


def _apply(engine: Engine, event_id: int, now=T0):  # type: ignore[no-untyped-def]
    with SqlAlchemyUnitOfWork(engine) as uow:
        applied = apply_event(uow, event_id, now)
        uow.commit()
    return applied


def _complete(engine: Engine, task_id: str, data: dict[str, object], now=T0) -> str:  # type: ignore[no-untyped-def]
    with SqlAlchemyUnitOfWork(engine) as uow:
        event, _ = complete_task(uow, task_id, data, NURSE, now)
        uow.commit()
    assert event.id is not None
    return _apply(engine, event.id, now).outcome


def test_the_library_publishes_once_and_published_versions_never_change(
    library: Engine,
) -> None:
    with SqlAlchemyUnitOfWork(library) as uow:
        count = uow.session.exec(select(func.count()).select_from(PathwayDefinition)).one()
        assert count == 9  # 8 pathways and the clinic calendar
        text = (DEFINITIONS / "chemotherapy.yaml").read_text()
        again = publish(uow.session, text, "informaticist", T0)
        assert again.version == 2  # the library holds the latest version of each pathway
        with pytest.raises(DefinitionRejected, match="publish it as version 3"):
            publish(uow.session, text.replace("title: Chemotherapy", "title: Chemo"), "x", T0)
        with pytest.raises(DefinitionRejected) as broken:
            broken_v3 = text.replace("\nversion: 2\n", "\nversion: 3\n").replace(
                "role: lab", "role: labs", 1
            )
            publish(uow.session, broken_v3, "x", T0)
        assert "role 'labs' is not one of this pathway's roles" in broken.value.problems[0].message


def test_a_folder_whose_plan_calls_a_version_nobody_publishes_is_refused_with_the_problem(
    library: Engine, tmp_path: Path
) -> None:
    plan = (DEFINITIONS / "multimodality.yaml").read_text(encoding="utf-8")
    assert "    call: surgery\n    version: 2\n" in plan
    folder = tmp_path / "next"
    folder.mkdir()
    (folder / "plan.yaml").write_text(
        plan.replace("\nversion: 2\n", "\nversion: 3\n", 1).replace(
            "    call: surgery\n    version: 2\n", "    call: surgery\n    version: 9\n"
        )
    )
    with SqlAlchemyUnitOfWork(library) as uow, pytest.raises(DefinitionRejected) as refused:
        publish_directory(uow.session, folder, "informaticist", T0)
    assert refused.value.message.endswith("plan.yaml: its sub-pathways are missing")
    assert [p.message for p in refused.value.problems] == ["pathway 'surgery' has no version 9"]


def test_enrolment_puts_the_work_up_in_each_roles_queue(library: Engine, chemo: str) -> None:
    with Session(library) as session:
        lab = queue(session, T0, role="lab")
        assert [t.step for t in lab] == ["baseline_labs"]
        assert lab[0].status == "ready" and lab[0].record_fields == ["anc", "platelets"]
        nursing = queue(session, T0, role="oncology_nurse")
        assert [t.due_at for t in nursing] == sorted(t.due_at for t in nursing)
        enrollment = session.get(Enrollment, chemo)
        assert enrollment is not None
        assert (enrollment.status, enrollment.flag, enrollment.version) == ("active", "on_track", 1)
        created = session.exec(
            select(OutboxMessage).where(OutboxMessage.event_type == "task_created")
        ).all()
        assert {m.role for m in created} >= {"lab", "radiology", "pharmacist"}
        assert all("MRN" not in str(m.payload) for m in created)


def test_completing_a_task_advances_the_pathway_and_keeps_each_status_change(
    library: Engine,
    chemo: str,
) -> None:
    labs = _tasks(library, chemo)["baseline_labs"]
    with SqlAlchemyUnitOfWork(library) as uow:
        claim_task(uow, labs.id, NURSE, T0)
        uow.commit()
    later = T0 + timedelta(hours=3)
    assert _complete(library, labs.id, {"anc": 2100, "platelets": 190000}, later) == "applied"
    with Session(library) as session:
        done = session.get(StaffTask, labs.id)
        assert done is not None and done.status == "completed"
        assert done.recorded == {"anc": 2100, "platelets": 190000}
        history = session.exec(
            select(StaffTaskStatusChange.status)
            .where(StaffTaskStatusChange.task_id == labs.id)
            .order_by(col(StaffTaskStatusChange.id))
        ).all()
        assert history == ["ready", "in-progress", "completed"]
        enrollment = session.get(Enrollment, chemo)
        assert enrollment is not None and enrollment.version == 2
        assert enrollment.state["frame"]["data"]["anc"] == 2100


def test_the_same_event_twice_has_one_effect(library: Engine, chemo: str) -> None:
    labs = _tasks(library, chemo)["baseline_labs"]
    data = {"anc": 2100, "platelets": 190000}
    with SqlAlchemyUnitOfWork(library) as uow:
        first, created = complete_task(uow, labs.id, data, NURSE, T0)
        again, created_again = complete_task(uow, labs.id, dict(data), NURSE, T0)
        uow.commit()
    assert (created, created_again, first.id) == (True, False, again.id)
    assert first.id is not None
    assert _apply(library, first.id).outcome == "applied"
    assert _apply(library, first.id).outcome == "already_processed"
    with Session(library) as session:
        enrollment = session.get(Enrollment, chemo)
        assert enrollment is not None and enrollment.version == 2


def test_an_event_the_engine_rejects_is_kept_with_its_reason_and_changes_nothing(
    library: Engine,
    chemo: str,
) -> None:
    with Session(library) as session:
        before = session.get(Enrollment, chemo)
        assert before is not None
        state_before = before.state
    with SqlAlchemyUnitOfWork(library) as uow:  # resume while active: the engine refuses it
        event, _ = record_event(uow, chemo, "resume", {"reason": "x"}, "nav:r1", "kim", T0)
        uow.commit()
    assert event.id is not None and _apply(library, event.id).outcome == "rejected"
    with Session(library) as session:
        after = session.get(Enrollment, chemo)
        assert after is not None and after.state == state_before and after.version == 1
        stored = session.get(PathwayEvent, event.id)
        assert stored is not None and stored.rejected_reason == "the enrollment is not on hold"
        assert session.exec(select(AuditLog).where(AuditLog.action == "event_rejected")).one()


def test_a_completion_whose_data_does_not_fit_the_form_is_refused_before_it_is_stored(
    library: Engine,
    chemo: str,
) -> None:
    labs = _tasks(library, chemo)["baseline_labs"]
    with SqlAlchemyUnitOfWork(library) as uow, pytest.raises(EventRejected, match="not a number"):
        complete_task(uow, labs.id, {"anc": "low", "platelets": 1}, NURSE, T0)
    with Session(library) as session:
        assert (
            session.exec(select(PathwayEvent).where(PathwayEvent.type == "task_completed")).all()
            == []
        )


def test_a_due_timer_fires_once_and_the_pathway_goes_on(library: Engine) -> None:
    with SqlAlchemyUnitOfWork(library) as uow:
        patient = register_patient(uow, "MRN-002", "Patient Two", "navigator.kim", T0)
        enrollment = enrol(uow, patient.id, "chemotherapy", None, {"cycles": 1}, {}, "n", T0)
        uow.commit()
    now = T0
    while True:  # work the enrollment until it waits on a timer
        ready = _tasks(library, enrollment.id)
        if not ready:
            break
        task = next(iter(ready.values()))
        now += timedelta(hours=1)
        data = {"anc": 2000, "platelets": 150000} if task.record_fields else {}
        assert _complete(library, task.id, data, now) == "applied"
    with SqlAlchemyUnitOfWork(library) as uow:
        assert fire_due_timers(uow, now) == []  # not due yet
    much_later = now + timedelta(days=30)
    with SqlAlchemyUnitOfWork(library) as uow:
        fired = fire_due_timers(uow, much_later)
        uow.commit()
    with SqlAlchemyUnitOfWork(library) as uow:
        assert fire_due_timers(uow, much_later) == []  # once
    assert len(fired) == 1
    assert _apply(library, fired[0], much_later).outcome == "applied"
    assert "response_imaging" in _tasks(library, enrollment.id)


def test_overdue_tasks_escalate_to_the_navigator_once_and_flag_the_enrollment(
    library: Engine,
    chemo: str,
) -> None:
    late = T0 + timedelta(days=12)
    with SqlAlchemyUnitOfWork(library) as uow:
        assert escalate_overdue(uow, late) == 4
        uow.commit()
    with SqlAlchemyUnitOfWork(library) as uow:
        assert escalate_overdue(uow, late) == 0
    with Session(library) as session:
        alerts = session.exec(
            select(OutboxMessage).where(OutboxMessage.event_type == "task_overdue")
        ).all()
        assert len(alerts) == 4 and {a.role for a in alerts} == {"navigator"}
        enrollment = session.get(Enrollment, chemo)
        assert enrollment is not None and enrollment.flag == "overdue"
        assert [t.step for t in queue(session, late, overdue=True)][:1] == ["baseline_labs"]


def test_staff_can_claim_reassign_and_skip_but_not_take_anothers_task(
    library: Engine,
    chemo: str,
) -> None:
    imaging = _tasks(library, chemo)["baseline_imaging"]
    with SqlAlchemyUnitOfWork(library) as uow:
        claim_task(uow, imaging.id, "dr.patel", T0)
        with pytest.raises(TaskConflict, match=r"claimed by dr\.patel"):
            claim_task(uow, imaging.id, "dr.wu", T0)
        reassign_task(uow, imaging.id, "dr.wu", "navigator.kim", "dr.patel on leave", T0)
        uow.commit()
    with Session(library) as session:
        assert [t.step for t in queue(session, T0, assignee="dr.wu")] == ["baseline_imaging"]
    with SqlAlchemyUnitOfWork(library) as uow:
        event, _ = skip_task(uow, imaging.id, "imaging done at referring hospital", "dr.wu", T0)
        uow.commit()
    assert event.id is not None and _apply(library, event.id).outcome == "applied"
    with Session(library) as session:
        skipped = session.get(StaffTask, imaging.id)
        assert skipped is not None and skipped.status == "cancelled"
        assert skipped.status_reason == "skipped: imaging done at referring hospital"
    with SqlAlchemyUnitOfWork(library) as uow, pytest.raises(TaskConflict, match="cancelled"):
        claim_task(uow, imaging.id, "dr.wu", T0)


def test_replay_of_the_event_log_reproduces_the_state(library: Engine, chemo: str) -> None:
    now = T0
    for step_id in ("baseline_labs", "medication_review", "teaching", "baseline_imaging"):
        now += timedelta(hours=2)
        task = _tasks(library, chemo)[step_id]
        data = {"anc": 1900, "platelets": 170000} if task.record_fields else {}
        assert _complete(library, task.id, data, now) == "applied"
    with SqlAlchemyUnitOfWork(library) as uow:
        event, _ = record_event(
            uow, chemo, "adverse_event", {"term": "nausea", "grade": 3}, "ehr:ae:1", "ehr", now
        )
        uow.commit()
    assert event.id is not None and _apply(library, event.id, now).outcome == "applied"
    with Session(library) as session:
        enrollment = session.get(Enrollment, chemo)
        assert enrollment is not None and enrollment.status == "on_hold"
        result = replay(session, enrollment)
        assert result.matches and result.events == 6
        enrollment.state = {**enrollment.state, "status": "active"}
        tampered = replay(session, enrollment)
        assert tampered.differences == ("$.status: stored 'active', replayed 'on_hold'",)


def test_events_left_unprocessed_are_found_by_the_recovery_sweep(
    library: Engine,
    chemo: str,
) -> None:
    with SqlAlchemyUnitOfWork(library) as uow:
        event, _ = record_event(uow, chemo, "hold", {"reason": "admitted"}, "nav:1", "kim", T0)
        uow.commit()
    with SqlAlchemyUnitOfWork(library) as uow:
        assert unprocessed_events(uow, T0 + timedelta(seconds=5), timedelta(seconds=30)) == []
        assert unprocessed_events(uow, T0 + timedelta(minutes=1), timedelta(seconds=30)) == [
            event.id
        ]


def test_notification_text_stays_out_of_what_webhooks_send(library: Engine, chemo: str) -> None:
    with SqlAlchemyUnitOfWork(library) as uow:
        event, _ = record_event(
            uow,
            chemo,
            "lab_result",
            {"test": "anc", "value": 300.0, "unit": "/uL"},
            "ehr:1",
            "ehr",
            T0,
        )
        uow.commit()
    assert event.id is not None and _apply(library, event.id).outcome == "applied"
    with Session(library) as session:
        notice = session.exec(
            select(OutboxMessage).where(OutboxMessage.event_type == "notification")
        ).one()
        assert notice.payload == {"step": "on.lab_result[0]", "priority": "stat"}
        assert notice.detail is not None and "ANC 300.0" in notice.detail
