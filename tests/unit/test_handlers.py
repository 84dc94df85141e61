"""The handlers' own rules, on a fake unit of work (in-memory tables, commits counted).

One command, one commit; a worker is told of an event only after the commit that stored it,
and never when the commit failed; a retry changes nothing and tells nobody; the clock a
handler reads is the one it was given.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from pathways.service.bus import Service
from pathways.service.commands import (
    ApplyEvents,
    CompleteTask,
    Enrol,
    FireDueTimers,
    PublishLibrary,
    RecordEvent,
    RefreshDashboardSummary,
    RegisterPatient,
    RejectEvent,
)
from pathways.service.enrolment import IdempotencyConflict
from pathways.store.definitions import forget_compiled
from pathways.store.quarantine import NotQuarantined
from pathways.store.summary import stored_summary
from pathways.store.tables import (
    AuditLog,
    DashboardSummary,
    Enrollment,
    PathwayEvent,
    StaffTask,
)
from tests.conftest import DEFINITIONS, toronto
from tests.fakes import CommitRefused, FakeBroker, FakeDatabase, fake_service

T0 = toronto(2026, 11, 23, 9, 0)


@pytest.fixture
def clinic() -> tuple[Service, FakeDatabase, FakeBroker]:
    forget_compiled()  # each fake database numbers its definitions afresh
    service, database, broker = fake_service(T0)
    service.handle(PublishLibrary(paths=(str(DEFINITIONS),), actor="informaticist"))
    return service, database, broker


def _enrolled(service: Service, mrn: str = "MRN-1", key: str = "enrol-1") -> Enrollment:
    patient = service.handle(RegisterPatient(mrn=mrn, display_name="Pat Fake", actor="kim"))
    command = Enrol(
        patient_id=patient.patient.id, pathway="radiation_sbrt", idempotency_key=key, actor="kim"
    )
    return service.handle(command).enrollment


def _hold(enrollment: Enrollment) -> RecordEvent:
    """A navigator's hold of the enrollment (one key: sent again, it is a retry)."""
    return RecordEvent(
        enrollment_id=enrollment.id,
        type="hold",
        data={"reason": "admitted"},
        idempotency_key="h1",
        actor="kim",
    )


def _rows(database: FakeDatabase, model: type) -> list:  # type: ignore[type-arg]
    with database.unit_of_work() as uow:
        return list(uow.session.exec(select(model)))


def test_each_command_commits_once(clinic: tuple[Service, FakeDatabase, FakeBroker]) -> None:
    service, database, _ = clinic
    before = database.commits
    patient = service.handle(RegisterPatient(mrn="MRN-9", display_name="Pat", actor="kim"))
    assert (patient.created, database.commits) == (True, before + 1)
    again = service.handle(RegisterPatient(mrn="MRN-9", display_name="Other", actor="kim"))
    assert (again.created, again.patient.id, database.commits) == (False, patient.patient.id, 2)


def test_an_event_is_enqueued_after_the_commit_that_stored_it_and_only_once(
    clinic: tuple[Service, FakeDatabase, FakeBroker],
) -> None:
    service, database, broker = clinic
    enrollment = _enrolled(service)
    hold = _hold(enrollment)
    first = service.handle(hold)
    commits = database.commits
    assert broker.sent == [(first.event_id, commits)]  # sent when its commit had been made
    retried = service.handle(hold)
    assert (retried.created, retried.event_id) == (False, first.event_id)
    assert broker.sent == [(first.event_id, commits)]  # a retry tells nobody again


def test_a_refused_commit_stores_nothing_and_tells_no_worker(
    clinic: tuple[Service, FakeDatabase, FakeBroker],
) -> None:
    service, database, broker = clinic
    enrollment = _enrolled(service)
    database.refuse_next_commit = True
    with pytest.raises(CommitRefused):
        service.handle(_hold(enrollment))
    assert broker.sent == []
    assert [event.type for event in _rows(database, PathwayEvent)] == ["enrolled"]


def test_an_event_is_accepted_while_the_broker_is_down(
    clinic: tuple[Service, FakeDatabase, FakeBroker],
) -> None:
    service, database, broker = clinic
    enrollment = _enrolled(service)
    broker.down = True
    accepted = service.handle(_hold(enrollment))
    assert accepted.created  # stored: the recovery sweep enqueues it once the broker is back
    assert accepted.event_id in {event.id for event in _rows(database, PathwayEvent)}


def test_an_enrolment_key_gives_one_enrollment_and_refuses_another_request(
    clinic: tuple[Service, FakeDatabase, FakeBroker],
) -> None:
    service, database, _ = clinic
    enrollment = _enrolled(service)
    commits = database.commits
    again = service.handle(
        Enrol(
            patient_id=enrollment.patient_id,
            pathway="radiation_sbrt",
            idempotency_key="enrol-1",
            actor="kim",
        )
    )
    assert (again.created, again.enrollment.id, database.commits) == (False, enrollment.id, commits)
    other = service.handle(RegisterPatient(mrn="MRN-2", display_name="Sam", actor="kim"))
    with pytest.raises(IdempotencyConflict, match="send a new key"):
        service.handle(
            Enrol(
                patient_id=other.patient.id,
                pathway="radiation_sbrt",
                idempotency_key="enrol-1",
                actor="kim",
            )
        )
    assert len(_rows(database, Enrollment)) == 1


def test_handlers_read_the_clock_they_are_given(
    clinic: tuple[Service, FakeDatabase, FakeBroker],
) -> None:
    service, database, _ = clinic
    enrollment = _enrolled(service)
    assert enrollment.enrolled_at == T0
    [consult] = _rows(database, StaffTask)
    later = service.at(lambda: T0 + timedelta(hours=3))
    done = later.handle(CompleteTask(task_id=consult.id, actor="dr.osei"))
    assert later.handle(ApplyEvents(event_id=done.event_id)).outcome == "applied"
    [event] = [row for row in _rows(database, PathwayEvent) if row.id == done.event_id]
    assert event.recorded_at == event.applied_at == T0 + timedelta(hours=3)


def test_due_timers_are_enqueued_only_after_their_commit(
    clinic: tuple[Service, FakeDatabase, FakeBroker],
) -> None:
    service, database, broker = clinic
    enrollment = _enrolled(service)
    service.handle(_hold(enrollment))
    assert service.handle(FireDueTimers()) == 0  # nothing due: no commit to wait for
    fired_before = len(broker.sent)
    months_later = service.at(lambda: T0 + timedelta(days=400))
    count = months_later.handle(FireDueTimers())
    sent = broker.sent[fired_before:]
    assert len(sent) == count
    assert all(commits == database.commits for _, commits in sent)


def test_only_a_quarantined_event_can_be_rejected_and_nothing_is_written_otherwise(
    clinic: tuple[Service, FakeDatabase, FakeBroker],
) -> None:
    service, database, broker = clinic
    enrollment = _enrolled(service)
    commits, audited = database.commits, len(_rows(database, AuditLog))
    [enrolled] = _rows(database, PathwayEvent)
    assert enrolled.enrollment_id == enrollment.id
    with pytest.raises(NotQuarantined):
        service.handle(RejectEvent(event_id=enrolled.id or 0, reason="wrong", actor="admin"))
    assert (database.commits, len(_rows(database, AuditLog))) == (commits, audited)
    assert broker.sent == []


def test_the_dashboard_summary_is_computed_stored_and_replaced_in_one_commit_each(
    clinic: tuple[Service, FakeDatabase, FakeBroker],
) -> None:
    service, database, _ = clinic
    enrollments = [_enrolled(service, f"MRN-{n}", f"enrol-{n}") for n in range(4)]
    with database.unit_of_work() as uow:  # treated 2, 4 and 10 days after enrolment
        for enrollment, days in zip(enrollments, (2, 4, 10), strict=False):
            row = uow.session.get(Enrollment, enrollment.id)
            assert row is not None
            row.first_treatment_at = row.enrolled_at + timedelta(days=days)
        uow.commit()
    commits = database.commits
    later = service.at(lambda: T0 + timedelta(minutes=5))
    first = later.handle(RefreshDashboardSummary())
    assert database.commits == commits + 1
    assert first.computed_at == T0 + timedelta(minutes=5)
    # percentile_cont's interpolation: the 90th of (2, 4, 10) is 4 + 0.8 * (10 - 4)
    assert first.figures["days_to_first_treatment"] == {
        "median": 4.0,
        "p90": 8.8,
        "enrollments": 3,
    }
    assert first.figures["counts"] == [
        {"pathway": "radiation_sbrt", "status": "active", "flag": "on_track", "enrollments": 4}
    ]
    assert first.figures["on_time"] == {
        "rate": None,
        "on_time": 0,
        "completed": 0,
        "window_days": 90,
    }
    days_later = service.at(lambda: T0 + timedelta(days=10))  # the consults are past due
    second = days_later.handle(RefreshDashboardSummary())
    assert database.commits == commits + 2
    with database.unit_of_work() as uow:
        assert stored_summary(uow.session) == second
    assert len(_rows(database, DashboardSummary)) == 1  # replaced, not added
    assert second.figures["overdue_tasks_by_role"] == [{"role": "radiation_oncologist", "tasks": 4}]
