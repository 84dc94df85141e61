"""Handlers that register patients and enrol them on pathways.

Both are idempotent by a unique index, not by looking first under a lock: an MRN names one
patient, an enrolment key one enrollment. Two first tries at once both try to insert; the
loser's commit fails on the index, and it answers with what the winner made.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from pathways.service.commands import Enrol, Enrolled, Registered, RegisterPatient
from pathways.service.context import Context
from pathways.store.enrollments import enrol, enrolled_with, patient_with_mrn, register_patient
from pathways.store.tables import Enrollment


class IdempotencyConflict(Exception):
    """The key was used for another request: the caller must send a new key."""


def register(command: RegisterPatient, context: Context) -> Registered:
    """Register a patient by MRN; an MRN already registered gives that patient back."""
    try:
        with context.unit_of_work() as uow:
            known = patient_with_mrn(uow.session, command.mrn)
            if known is not None:
                return Registered(known, created=False)
            patient = register_patient(
                uow, command.mrn, command.display_name, command.actor, context.clock()
            )
            uow.commit()
            return Registered(patient, created=True)
    except IntegrityError:  # registered by someone else since we looked: that is the patient
        with context.unit_of_work() as uow:
            known = patient_with_mrn(uow.session, command.mrn)
        if known is None:
            raise
        return Registered(known, created=False)


def enrol_patient(command: Enrol, context: Context) -> Enrolled:
    """Enrol a patient; the same key again gives that enrollment, if it is the same request."""
    try:
        with context.unit_of_work() as uow:
            known = enrolled_with(uow.session, command.idempotency_key)
            if known is None:
                enrollment = enrol(
                    uow,
                    command.patient_id,
                    command.pathway,
                    command.version,
                    command.parameters,
                    command.patient,
                    command.actor,
                    context.clock(),
                    command.idempotency_key,
                )
                uow.commit()
                return Enrolled(enrollment, created=True)
    except IntegrityError:  # the same key, enrolled by a concurrent first try
        with context.unit_of_work() as uow:
            known = enrolled_with(uow.session, command.idempotency_key)
        if known is None:
            raise
    if not _same_request(known, command):
        raise IdempotencyConflict(
            f"idempotency key '{command.idempotency_key}' already enrolled another patient "
            "or pathway: send a new key for a new enrollment"
        )
    return Enrolled(known, created=False)


def _same_request(enrollment: Enrollment, command: Enrol) -> bool:
    return (enrollment.patient_id, enrollment.pathway) == (
        command.patient_id,
        command.pathway,
    ) and (command.version in (None, enrollment.pathway_version))
