"""Two real processes applying events to one enrollment on PostgreSQL lose no update."""

from __future__ import annotations

import multiprocessing
from datetime import timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from pathways.store.applying import ConcurrentUpdate, apply_events
from pathways.store.database import database_engine, upgrade
from pathways.store.definitions import publish_directory
from pathways.store.enrollments import enrol, record_event, register_patient
from pathways.store.replay import replay
from pathways.store.tables import AuditLog, Enrollment, PathwayEvent
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork
from tests.conftest import DEFINITIONS, toronto

T0 = toronto(2026, 11, 23, 9, 0)
EVENTS = 40


def _apply_all(url: str, event_ids: list[int], reverse: bool) -> int:
    """Apply every event (retrying when the other process got there first); how many we did."""
    engine = database_engine(url)
    applied = 0
    for index, event_id in enumerate(reversed(event_ids) if reverse else event_ids):
        now = T0 + timedelta(minutes=index)
        while True:
            try:
                with SqlAlchemyUnitOfWork(engine) as uow:
                    outcomes = apply_events(uow, event_id, now)
                    uow.commit()
                break
            except ConcurrentUpdate:
                continue
        applied += sum(outcome.outcome == "applied" for outcome in outcomes)
    engine.dispose()
    return applied


def test_two_processes_apply_a_stream_of_events_exactly_once(postgres_url: str) -> None:
    upgrade(postgres_url)
    engine = database_engine(postgres_url)
    with SqlAlchemyUnitOfWork(engine) as uow:
        publish_directory(uow.session, DEFINITIONS, "informaticist", T0)
        patient = register_patient(uow, "MRN-CONC", "Patient Concurrent", "kim", T0)
        enrollment = enrol(uow, patient.id, "chemotherapy", None, {}, {}, "kim", T0)
        event_ids = []
        for number in range(EVENTS):
            event, _ = record_event(
                uow,
                enrollment.id,
                "lab_result",
                {"test": "anc", "value": 1000.0 + number, "unit": "/uL"},
                f"lab:{number}",
                "ehr",
                T0,
            )
            assert event.id is not None
            event_ids.append(event.id)
        uow.commit()

    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        counts = pool.starmap(
            _apply_all, [(postgres_url, event_ids, False), (postgres_url, event_ids, True)]
        )

    assert sum(counts) == EVENTS  # each event applied once, by one process or the other
    with Session(engine) as session:
        stored = session.get(Enrollment, enrollment.id)
        assert stored is not None and stored.version == 1 + EVENTS  # no lost update
        sequences = session.exec(
            select(PathwayEvent.applied_seq).where(
                PathwayEvent.enrollment_id == enrollment.id,
                col(PathwayEvent.applied_seq).is_not(None),
            )
        ).all()
        assert sorted(sequences) == list(range(1, EVENTS + 2))
        in_applied_order = session.exec(
            select(PathwayEvent.id)
            .where(PathwayEvent.enrollment_id == enrollment.id)
            .order_by(col(PathwayEvent.applied_seq))
        ).all()
        # one process was handed the events newest first: still applied in recording order
        assert in_applied_order == sorted(in_applied_order)
        audited = session.exec(
            select(func.count())
            .select_from(AuditLog)
            .where(AuditLog.action == "lab_result", AuditLog.target_id == enrollment.id)
        ).one()
        assert audited == EVENTS
        assert replay(session, stored).matches
    engine.dispose()
