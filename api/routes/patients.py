"""/patients: register a patient by MRN, and find one by id or MRN.

A patient's MRN and name are PHI: navigators register patients; navigators and admins read
every patient; a staff role only a patient with an open task of that role (the patient in front
of them); read-only dashboards never. Each patient shown is audited (api/read_audit.py).
"""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints
from sqlmodel import Session, col, select

from api.deps import CallerDep, Navigator, PatientViewDep, ServiceDep, SessionDep
from api.security import Principal
from pathways.service.commands import RegisterPatient
from pathways.store.enrollments import NotFound
from pathways.store.tables import Enrollment, Patient

router = APIRouter(prefix="/patients", tags=["patients"])


def _one_word(mrn: str) -> str:
    if any(character.isspace() for character in mrn):
        raise ValueError("an MRN has no spaces inside: send it as the hospital system shows it")
    return mrn


Mrn = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    AfterValidator(_one_word),
]
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


async def _may_see_patients(who: CallerDep) -> Principal:
    if not who.sees_patients():
        raise HTTPException(403, f"the {who.role} role may not see patients")
    return who


PatientReader = Annotated[Principal, Depends(_may_see_patients)]


class PatientCreate(BaseModel):
    """A patient to register: the hospital's MRN and the name staff know them by."""

    model_config = ConfigDict(extra="forbid")
    mrn: Mrn
    display_name: DisplayName


class PatientPublic(BaseModel):
    """A registered patient."""

    id: str
    mrn: str
    display_name: str
    created_at: datetime


class PatientEnrollment(BaseModel):
    """One of the patient's enrollments (GET /enrollments/{id} has the whole of it)."""

    id: str
    pathway: str
    version: int
    status: str
    flag: str
    enrolled_at: datetime


class PatientDetail(PatientPublic):
    """A registered patient with their enrollments, oldest first."""

    enrollments: list[PatientEnrollment]


REGISTER = (
    "Register a patient (201). An MRN already registered gives that patient back (200), "
    "unchanged even when the display name sent differs: the MRN is who the patient is."
)


@router.post("", status_code=201, description=REGISTER)
def register_patient_by_mrn(
    body: PatientCreate,
    who: Navigator,
    service: ServiceDep,
    response: Response,
    view: PatientViewDep,
) -> PatientPublic:
    """Register a patient by MRN (201); an MRN already registered gives that patient (200)."""
    registered = service.handle(
        RegisterPatient(mrn=body.mrn, display_name=body.display_name, actor=who.actor)
    )
    patient = _public(registered.patient)
    if not registered.created:  # an existing patient is shown back: a read, audited as one
        view.reveal([patient.id])
        response.status_code = 200
    response.headers["Location"] = f"/patients/{patient.id}"
    return patient


@router.get("")
def find_patients(
    who: PatientReader,
    db: SessionDep,
    view: PatientViewDep,
    mrn: Annotated[str, Query(min_length=1, max_length=64, description="the exact MRN")],
) -> list[PatientPublic]:
    """The patient with this MRN as a list of one, or none (staff: none not in their care)."""
    found = _with_mrn(db, mrn.strip())
    return [_public(found)] if found and view.reveal([found.id]) else []


@router.get("/{patient_id}")
def read_patient(
    patient_id: str, who: PatientReader, db: SessionDep, view: PatientViewDep
) -> PatientDetail:
    """One patient and their enrollments (staff: while the patient has an open task of theirs)."""
    patient = db.get(Patient, patient_id)
    if patient is None:
        raise NotFound(f"no patient {patient_id}")
    if not view.reveal([patient.id]):
        raise HTTPException(
            403, f"the {who.role} role sees a patient only while they have an open {who.role} task"
        )
    enrollments = db.exec(
        select(Enrollment)
        .where(Enrollment.patient_id == patient.id)
        .order_by(col(Enrollment.enrolled_at), col(Enrollment.id))
    )
    return PatientDetail(
        **_public(patient).model_dump(),
        enrollments=[
            PatientEnrollment(
                id=row.id,
                pathway=row.pathway,
                version=row.pathway_version,
                status=row.status,
                flag=row.flag,
                enrolled_at=row.enrolled_at,
            )
            for row in enrollments
        ],
    )


def _with_mrn(session: Session, mrn: str) -> Patient | None:
    return session.exec(select(Patient).where(Patient.mrn == mrn)).first()


def _public(patient: Patient) -> PatientPublic:
    return PatientPublic.model_validate(patient, from_attributes=True)
