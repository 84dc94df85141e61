"""Register patients, enrol them, record events, and apply an event in one commit."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from pathways.runtime.admission import admit
from pathways.runtime.engine import start
from pathways.runtime.events import Enrolled
from pathways.runtime.progress import Progress, progress
from pathways.runtime.simulation import project
from pathways.runtime.state import iso
from pathways.store.changes import record_enrollment_change
from pathways.store.definitions import compiled, pinned
from pathways.store.effects import write_effects
from pathways.store.events import ENROLLED, engine_event
from pathways.store.tables import Enrollment, PathwayDefinition, PathwayEvent, Patient
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork


class NotFound(Exception):
    """A record that does not exist."""


def new_id() -> str:
    """A random id for a new record."""
    return str(uuid.uuid4())


def register_patient(
    uow: SqlAlchemyUnitOfWork, mrn: str, display_name: str, actor: str, now: datetime
) -> Patient:
    """Register a patient by MRN (an MRN already registered gives that patient)."""
    found = patient_with_mrn(uow.session, mrn)
    if found is not None:
        return found
    patient = Patient.model_validate(
        {"id": new_id(), "mrn": mrn, "display_name": display_name, "created_at": now}
    )
    uow.session.add(patient)
    from pathways.store.effects import audit

    audit(uow.session, actor, "patient_registered", "patient", patient.id, now)
    uow.session.flush()
    return patient


def patient_with_mrn(session: Session, mrn: str) -> Patient | None:
    """The patient registered with this MRN, if any."""
    return session.exec(select(Patient).where(Patient.mrn == mrn)).first()


def enrolled_with(session: Session, idempotency_key: str) -> Enrollment | None:
    """The enrollment made with this key, if any (uq_enrollment_key: at most one)."""
    return session.exec(
        select(Enrollment).where(Enrollment.idempotency_key == idempotency_key)
    ).first()


def enrol(
    uow: SqlAlchemyUnitOfWork,
    patient_id: str,
    pathway: str,
    version: int | None,
    parameters: dict[str, Any],
    patient_attributes: dict[str, Any],
    actor: str,
    now: datetime,
    idempotency_key: str | None = None,
) -> Enrollment:
    """Enrol a patient on a pathway version (latest when none is given).

    A key another enrollment was made with fails the commit (IntegrityError)."""
    session = uow.session
    if session.get(Patient, patient_id) is None:
        raise NotFound(f"no patient {patient_id}")
    definition_row = _definition_row(session, pathway, version)
    definition = compiled(session, definition_row)
    state, effects = start(definition, Enrolled(parameters, patient_attributes), now)
    plan = project(definition, state, now)  # the usual course: planned end and first projection
    state["planned_end"] = iso(plan.end)
    enrollment = Enrollment.model_validate(
        {
            "id": new_id(),
            "patient_id": patient_id,
            "idempotency_key": idempotency_key,
            "definition_id": definition_row.id,
            "pathway": definition_row.pathway,
            "pathway_version": definition_row.version,
            "parameters": state["frame"]["parameters"],
            "patient_attributes": state["patient"],
            "state": state,
            "version": 1,
            "status": state["status"],
            "flag": "on_track",
            "enrolled_at": now,
            "updated_at": now,
        }
    )
    session.add(enrollment)
    session.flush()
    session.add(
        PathwayEvent.model_validate(
            {
                "enrollment_id": enrollment.id,
                "idempotency_key": idempotency_key or f"enrol:{new_id()}",
                "type": ENROLLED,
                "data": {"parameters": parameters, "patient": patient_attributes},
                "actor": actor,
                "recorded_at": now,
                "processed_at": now,
                "applied_at": now,
                "applied_seq": 1,
            }
        )
    )
    write_effects(session, enrollment, effects, actor, now)
    _show_progress(enrollment, progress(definition, state, now, plan))
    session.add(enrollment)
    record_enrollment_change(session, enrollment, now)
    session.flush()
    return enrollment


def _definition_row(session: Session, pathway: str, version: int | None) -> PathwayDefinition:
    query = select(PathwayDefinition).where(
        PathwayDefinition.kind == "pathway", PathwayDefinition.pathway == pathway
    )
    if version is not None:
        query = query.where(PathwayDefinition.version == version)
    rows = sorted(session.exec(query), key=lambda row: row.version)
    if not rows:
        raise NotFound(
            f"no published pathway '{pathway}'"
            + (f" version {version}" if version is not None else "")
        )
    return rows[-1]


def record_event(
    uow: SqlAlchemyUnitOfWork,
    enrollment_id: str,
    event_type: str,
    data: dict[str, Any],
    idempotency_key: str,
    actor: str,
    now: datetime,
    *,
    from_person: bool = False,
) -> tuple[PathwayEvent, bool]:
    """Store an event for later application; the same key twice gives the first event.

    A person's event (`from_person`) must be one the enrollment takes from people, with data
    typed as its pathway declares: EventRejected, or EnrollmentEnded once it is over."""
    session = uow.session
    enrollment = session.get(Enrollment, enrollment_id)
    if enrollment is None:
        raise NotFound(f"no enrollment {enrollment_id}")
    existing = _by_key(session, enrollment_id, idempotency_key)
    if existing is not None:
        return existing, False
    if from_person:
        admit(pinned(session, enrollment), enrollment.status, event_type, data)
    engine_event(event_type, data)  # refuse what can never be an event, before storing it
    row = PathwayEvent.model_validate(
        {
            "enrollment_id": enrollment_id,
            "idempotency_key": idempotency_key,
            "type": event_type,
            "data": data,
            "actor": actor,
            "recorded_at": now,
        }
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # the same key arrived concurrently
        found = _by_key(session, enrollment_id, idempotency_key)
        assert found is not None
        return found, False
    session.flush()
    return row, True


def _by_key(session: Session, enrollment_id: str, key: str) -> PathwayEvent | None:
    return session.exec(
        select(PathwayEvent).where(
            PathwayEvent.enrollment_id == enrollment_id, PathwayEvent.idempotency_key == key
        )
    ).first()


def _show_progress(enrollment: Enrollment, report: Progress) -> None:
    """At enrolment: the flag, next due date, progress figures and the first projection."""
    enrollment.flag = report.flag
    enrollment.next_due_at = report.next_due
    enrollment.steps_done = report.done
    enrollment.steps_expected = report.expected
    enrollment.phase = report.phase
    enrollment.projected_end = report.projected_end
    enrollment.projected_version = enrollment.version
