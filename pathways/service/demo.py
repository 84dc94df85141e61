"""Demo patients for the embedded mode, in varied states, made through the real event path.

Every write is a command run by its handler, on a service whose clock reads the moment of
the course being replayed (a patient enrolled 25 days ago was enrolled then).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from pathways.model import Field, Task
from pathways.runtime.definition import Definition
from pathways.service.bus import Service
from pathways.service.commands import (
    ApplyEvents,
    CompleteTask,
    Enrol,
    EscalateOverdueTasks,
    FireDueTimers,
    PublishLibrary,
    RecordEvent,
    RegisterPatient,
)
from pathways.service.context import fixed, nobody_to_tell
from pathways.store.definitions import compiled
from pathways.store.sweeps import next_work
from pathways.store.tables import Enrollment, PathwayDefinition, StaffTask

NAVIGATOR = "demo.navigator"
# (MRN, display name, pathway, days ago, what then happens)
PATIENTS: tuple[tuple[str, str, str, int, str], ...] = (
    ("DEMO-0001", "Avery Demo", "chemotherapy", 2, "on_track"),
    ("DEMO-0002", "Blake Demo", "radiation_conventional", 25, "overdue"),
    ("DEMO-0003", "Casey Demo", "surgery", 4, "on_hold"),
    ("DEMO-0004", "Drew Demo", "radiation_sbrt", 900, "finished"),
    ("DEMO-0005", "Emery Demo", "tumour_board", 1, "on_track"),
    ("DEMO-0006", "Frankie Demo", "multimodality_plan", 9, "on_track"),
)
PATIENT_ATTRIBUTES = {"bilsky_grade": "2", "sins": 9, "radiosensitive": False, "smoker": False}
# What staff record on the usual path where the first enum value or false would not be it.
USUAL_VALUES: dict[str, Any] = {"qa_passed": True, "eligible": True}


def seed(
    service: Service,
    definitions: Path,
    progress: Callable[[int], None] = lambda _: None,
) -> int:
    """Publish the library and enrol the demo patients once; how many were enrolled.

    The demo applies its own events as it goes, so it tells no worker of them."""
    service = replace(service, enqueue=nobody_to_tell)
    now = service.clock()
    service.handle(PublishLibrary(paths=(str(definitions),), actor=NAVIGATOR))
    with service.unit_of_work() as uow:
        if uow.session.exec(select(func.count()).select_from(Enrollment)).one():
            return 0
        attributes_of = {
            pathway: _attributes(uow.session, pathway) for _, _, pathway, _, _ in PATIENTS
        }
    for mrn, name, pathway, days_ago, then in PATIENTS:
        start = now - timedelta(days=days_ago)
        back_then = service.at(fixed(start))
        patient = back_then.handle(RegisterPatient(mrn=mrn, display_name=name, actor=NAVIGATOR))
        enrollment = back_then.handle(
            Enrol(
                patient_id=patient.patient.id,
                pathway=pathway,
                patient=attributes_of[pathway],
                idempotency_key=f"demo:{mrn}",
                actor=NAVIGATOR,
            )
        ).enrollment
        if then == "on_hold":
            record_and_apply(
                service,
                enrollment.id,
                "hold",
                {"reason": "admitted for pain control"},
                start + timedelta(days=1),
            )
        elif then == "finished":
            _drive_to_end(service, enrollment.id, start, now)
        progress(1)
    service.handle(EscalateOverdueTasks())  # what beat would do within a minute: flag late work
    return len(PATIENTS)


def _attributes(session: Session, pathway: str) -> dict[str, Any]:
    """The demo's patient attributes that this pathway declares."""
    declared = compiled(session, _definition(session, pathway)).pathway.patient
    return {key: value for key, value in PATIENT_ATTRIBUTES.items() if key in declared}


def _definition(session: Session, pathway: str) -> PathwayDefinition:
    return session.exec(
        select(PathwayDefinition).where(
            PathwayDefinition.kind == "pathway", PathwayDefinition.pathway == pathway
        )
    ).one()


def record_and_apply(
    service: Service,
    enrollment_id: str,
    event_type: str,
    data: dict[str, Any],
    at: datetime,
    actor: str = NAVIGATOR,
) -> None:
    """Record an event and apply it at once, as the API and a worker would (seeding only)."""
    then = service.at(fixed(at))
    accepted = then.handle(
        RecordEvent(
            enrollment_id=enrollment_id,
            type=event_type,
            data=data,
            idempotency_key=f"{actor}:{event_type}:{at.isoformat()}",
            actor=actor,
            from_person=False,
        )
    )
    then.handle(ApplyEvents(event_id=accepted.event_id))


def _drive_to_end(service: Service, enrollment_id: str, start: datetime, now: datetime) -> None:
    """Work an enrollment the usual way (tasks done in hours, timers when due) until it ends."""
    moment = start
    for _ in range(500):
        with service.unit_of_work() as uow:
            work = next_work(uow.session, enrollment_id)
        if work is None:
            return
        if work.task is not None:
            moment = max(moment, work.task.created_at) + timedelta(hours=2)
            then = service.at(fixed(moment))
            done = CompleteTask(
                task_id=work.task.id, data=_typical(work.definition, work.task), actor="demo.staff"
            )
            then.handle(ApplyEvents(event_id=then.handle(done).event_id))
        elif work.timer is not None:
            moment = max(moment, work.timer.due_at)
            fire_timers_at(service, moment)
        else:
            return
        if moment > now:
            return


def fire_timers_at(service: Service, moment: datetime) -> None:
    """Fire the timers due at `moment` and apply their events at once, as of then: for a
    database nobody else is working (the demo, the bench's seed)."""
    fired: list[int] = []
    at_timer = replace(service.at(fixed(moment)), enqueue=fired.append)
    at_timer.handle(FireDueTimers())
    for event_id in fired:
        at_timer.handle(ApplyEvents(event_id=event_id))


def _typical(definition: Definition, task: StaffTask) -> dict[str, Any]:
    step = definition.steps.get(task.step)
    return usual_record(step.record if isinstance(step, Task) else ())


def usual_record(
    fields: tuple[Field, ...], usual: dict[str, Any] = USUAL_VALUES, text: str = "demo"
) -> dict[str, Any]:
    """What staff record on the usual path: `usual` where named, else the first enum value,
    the lowest number, false or `text`; optional fields are left out."""
    values: dict[str, Any] = {}
    for field in fields:
        if not field.required:
            continue
        if field.name in usual:
            values[field.name] = usual[field.name]
        elif field.enum:
            values[field.name] = field.enum[0]
        elif field.type in ("integer", "number"):
            low = field.minimum if field.minimum is not None else 0
            values[field.name] = int(low) if field.type == "integer" else float(low)
        elif field.type == "boolean":
            values[field.name] = False
        else:
            values[field.name] = text
    return values
