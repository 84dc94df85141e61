"""Events are applied in recording order; a poison event is quarantined, never looped."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from pathways.store import applying
from pathways.store.applying import apply_event
from pathways.store.definitions import publish_directory
from pathways.store.enrollments import enrol, record_event, register_patient
from pathways.store.quarantine import (
    NotQuarantined,
    quarantined_events,
    reject_event,
    retry_event,
)
from pathways.store.replay import replay
from pathways.store.sweeps import unprocessed_events
from pathways.store.tables import AuditLog, Enrollment, OutboxMessage, PathwayEvent
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork
from tests import writes
from tests.conftest import DEFINITIONS, toronto

T0 = toronto(2026, 11, 23, 9, 0)


@pytest.fixture
def sbrt(engine: Engine) -> Iterator[str]:
    """A patient enrolled on spine SBRT at T0; the enrollment id."""
    with SqlAlchemyUnitOfWork(engine) as uow:
        publish_directory(uow.session, DEFINITIONS, "informaticist", T0)
        patient = register_patient(uow, "MRN-ORD", "Patient Order", "kim", T0)
        enrollment = enrol(uow, patient.id, "radiation_sbrt", None, {}, {}, "kim", T0)
        uow.commit()
        yield enrollment.id


def _record(engine: Engine, enrollment_id: str, kind: str, key: str) -> int:
    with SqlAlchemyUnitOfWork(engine) as uow:
        event, _ = record_event(uow, enrollment_id, kind, {"reason": key}, key, "kim", T0)
        uow.commit()
    assert event.id is not None
    return event.id


def _event(engine: Engine, event_id: int) -> PathwayEvent:
    with Session(engine) as session:
        found = session.get(PathwayEvent, event_id)
        assert found is not None
        return found


def _status(engine: Engine, enrollment_id: str) -> str:
    with Session(engine) as session:
        found = session.get(Enrollment, enrollment_id)
        assert found is not None
        return found.status


def test_a_resume_delivered_before_its_hold_is_applied_after_it(engine: Engine, sbrt: str) -> None:
    hold = _record(engine, sbrt, "hold", "admitted")
    resume = _record(engine, sbrt, "resume", "discharged")

    # the hold's message was lost and recovered later: the resume's message comes first
    with SqlAlchemyUnitOfWork(engine) as uow:
        assert apply_event(uow, resume, T0).outcome == "applied"
        uow.commit()
    with SqlAlchemyUnitOfWork(engine) as uow:
        assert apply_event(uow, hold, T0).outcome == "already_processed"

    assert _event(engine, hold).applied_seq == 2  # enrolment is 1
    assert _event(engine, resume).applied_seq == 3
    assert _status(engine, sbrt) == "active"  # not stuck on hold
    with Session(engine) as session:
        enrollment = session.get(Enrollment, sbrt)
        assert enrollment is not None
        assert replay(session, enrollment).matches


def test_replay_names_an_event_applied_after_a_later_one(engine: Engine, sbrt: str) -> None:
    hold = _record(engine, sbrt, "hold", "admitted")
    resume = _record(engine, sbrt, "resume", "discharged")
    for event_id in (hold, resume):
        with SqlAlchemyUnitOfWork(engine) as uow:
            apply_event(uow, event_id, T0)
            uow.commit()
    with Session(engine) as session:  # as the old worker left it: applied out of order
        session.execute(
            update(PathwayEvent).where(col(PathwayEvent.id) == hold).values(applied_seq=4)
        )
        session.commit()
        enrollment = session.get(Enrollment, sbrt)
        assert enrollment is not None
        result = replay(session, enrollment)
    assert f"order: event {hold} was applied after the later event {resume}" in result.differences


@pytest.fixture
def poison(monkeypatch: pytest.MonkeyPatch) -> None:
    """Events whose reason says 'poison' fail to apply, as a value the database refuses would."""
    original = applying.engine_event

    def failing(event_type: str, data: dict[str, object]):  # type: ignore[no-untyped-def]
        if data.get("reason") == "poison":
            raise ValueError("refused by the database")
        return original(event_type, data)

    monkeypatch.setattr(applying, "engine_event", failing)


def test_a_poison_event_is_quarantined_and_the_events_after_it_wait(
    engine: Engine, sbrt: str, poison: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAREPATH_QUARANTINE_AFTER", "3")
    bad = _record(engine, sbrt, "hold", "poison")
    later = _record(engine, sbrt, "hold", "admitted")

    outcomes = [writes.apply(engine, bad).outcome for _ in range(3)]

    assert outcomes == ["failed", "failed", "failed"]
    event = _event(engine, bad)
    assert event.attempts == 3 and event.quarantined_at is not None
    assert event.last_error == "ValueError"  # the class only: a message may carry PHI
    assert event.processed_at is None
    assert writes.apply(engine, later).outcome == "waiting"  # never applied before `bad`
    assert _event(engine, later).processed_at is None
    with SqlAlchemyUnitOfWork(engine) as uow:
        assert unprocessed_events(uow, T0 + timedelta(days=1), timedelta(seconds=30)) == []
        assert [e.id for e in quarantined_events(uow.session)] == [bad]
        alerts = uow.session.exec(
            select(OutboxMessage).where(OutboxMessage.event_type == "event_quarantined")
        ).all()
        assert [(a.role, a.payload["event"]) for a in alerts] == [("admin", bad)]
    assert writes.apply(engine, bad).outcome == "waiting"  # set aside: not tried again
    assert _event(engine, bad).attempts == 3


def test_rejecting_a_quarantined_event_lets_the_next_one_apply(
    engine: Engine, sbrt: str, poison: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAREPATH_QUARANTINE_AFTER", "1")
    bad = _record(engine, sbrt, "hold", "poison")
    later = _record(engine, sbrt, "hold", "admitted")
    writes.apply(engine, bad)

    with SqlAlchemyUnitOfWork(engine) as uow:
        following = reject_event(uow, bad, "admin", "entered in error", T0)
        uow.commit()
    assert following == later
    assert writes.apply(engine, later).outcome == "applied"
    assert _event(engine, bad).rejected_reason == "rejected by an administrator: entered in error"
    assert _status(engine, sbrt) == "on_hold"
    with SqlAlchemyUnitOfWork(engine) as uow:
        with pytest.raises(NotQuarantined):
            retry_event(uow, bad, "admin", T0)
        actions = uow.session.exec(select(AuditLog.action).where(AuditLog.target_id == sbrt)).all()
    assert "event_quarantined" in actions and "event_rejected" in actions


def test_a_retried_event_applies_once_its_cause_is_fixed(
    engine: Engine, sbrt: str, poison: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAREPATH_QUARANTINE_AFTER", "1")
    bad = _record(engine, sbrt, "hold", "poison")
    writes.apply(engine, bad)
    monkeypatch.undo()  # the cause is fixed (a new release)

    with SqlAlchemyUnitOfWork(engine) as uow:
        assert retry_event(uow, bad, "admin", T0) == bad
        uow.commit()
    assert writes.apply(engine, bad).outcome == "applied"
    assert _status(engine, sbrt) == "on_hold"


def test_a_failing_event_does_not_hold_back_other_enrollments_in_its_commit(
    engine: Engine, sbrt: str, poison: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAREPATH_QUARANTINE_AFTER", "5")
    with SqlAlchemyUnitOfWork(engine) as uow:
        other = register_patient(uow, "MRN-ORD2", "Patient Other", "kim", T0)
        second = enrol(uow, other.id, "radiation_sbrt", None, {}, {}, "kim", T0).id
        uow.commit()
    good = _record(engine, second, "hold", "admitted")
    bad = _record(engine, sbrt, "hold", "poison")

    # a worker with a backlog takes both enrollments into one commit
    assert writes.apply(engine, bad, backlog=10).outcome == "failed"

    assert _event(engine, good).processed_at is not None  # applied, not lost with the batch
    assert _status(engine, second) == "on_hold"
    assert _event(engine, bad).attempts == 1 and _event(engine, bad).processed_at is None
