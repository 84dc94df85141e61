"""Demo patients for the embedded mode, in varied states, made through the real event path."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from pathways.model import Field, Task
from pathways.runtime.definition import Definition
from pathways.store.applying import apply_event
from pathways.store.definitions import compiled, pinned, publish_directory
from pathways.store.enrollments import enrol, record_event, register_patient
from pathways.store.staff_tasks import complete_task, escalate_overdue
from pathways.store.sweeps import fire_due_timers, next_timer
from pathways.store.tables import Enrollment, PathwayDefinition, StaffTask
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork

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
    engine: Engine,
    definitions: Path,
    now: datetime,
    progress: Callable[[int], None] = lambda _: None,
) -> int:
    """Publish the library and enrol the demo patients once; how many were enrolled."""
    with SqlAlchemyUnitOfWork(engine) as uow:
        publish_directory(uow.session, definitions, NAVIGATOR, now)
        uow.commit()
        if uow.session.exec(select(func.count()).select_from(Enrollment)).one():
            return 0
    for mrn, name, pathway, days_ago, then in PATIENTS:
        start = now - timedelta(days=days_ago)
        with SqlAlchemyUnitOfWork(engine) as uow:
            patient = register_patient(uow, mrn, name, NAVIGATOR, start)
            row = _definition(uow.session, pathway)
            attributes = {
                key: value
                for key, value in PATIENT_ATTRIBUTES.items()
                if key in compiled(uow.session, row).pathway.patient
            }
            enrollment = enrol(
                uow, patient.id, pathway, None, {}, attributes, NAVIGATOR, start, f"demo:{mrn}"
            )
            uow.commit()
        if then == "on_hold":
            record_and_apply(
                engine,
                enrollment.id,
                "hold",
                {"reason": "admitted for pain control"},
                start + timedelta(days=1),
            )
        elif then == "finished":
            _drive_to_end(engine, enrollment.id, start, now)
        progress(1)
    with SqlAlchemyUnitOfWork(engine) as uow:
        escalate_overdue(uow, now)  # what beat would do within a minute: flag the late work
    return len(PATIENTS)


def _definition(session: Session, pathway: str) -> PathwayDefinition:
    return session.exec(
        select(PathwayDefinition).where(
            PathwayDefinition.kind == "pathway", PathwayDefinition.pathway == pathway
        )
    ).one()


def record_and_apply(
    engine: Engine,
    enrollment_id: str,
    event_type: str,
    data: dict[str, Any],
    at: datetime,
    actor: str = NAVIGATOR,
) -> None:
    """Record an event and apply it at once, as the API and a worker would (seeding only)."""
    with SqlAlchemyUnitOfWork(engine) as uow:
        event, _ = record_event(
            uow,
            enrollment_id,
            event_type,
            data,
            f"{actor}:{event_type}:{at.isoformat()}",
            actor,
            at,
        )
        uow.commit()
    assert event.id is not None
    with SqlAlchemyUnitOfWork(engine) as uow:
        apply_event(uow, event.id, at)


def _drive_to_end(engine: Engine, enrollment_id: str, start: datetime, now: datetime) -> None:
    """Work an enrollment the usual way (tasks done in hours, timers when due) until it ends."""
    moment = start
    for _ in range(500):
        with Session(engine) as session:
            enrollment = session.get(Enrollment, enrollment_id)
            assert enrollment is not None
            if enrollment.status != "active":
                return
            definition = pinned(session, enrollment)
            task = session.exec(
                select(StaffTask)
                .where(StaffTask.enrollment_id == enrollment_id, StaffTask.status == "ready")
                .order_by(col(StaffTask.due_at))
            ).first()
            timer = next_timer(session, enrollment_id)
        if task is not None:
            moment = max(moment, task.created_at) + timedelta(hours=2)
            data = _typical(definition, task)
            with SqlAlchemyUnitOfWork(engine) as uow:
                event, _ = complete_task(uow, task.id, data, "demo.staff", moment)
                uow.commit()
            assert event.id is not None
            with SqlAlchemyUnitOfWork(engine) as uow:
                apply_event(uow, event.id, moment)
        elif timer is not None:
            moment = max(moment, timer.due_at)
            with SqlAlchemyUnitOfWork(engine) as uow:
                fired = fire_due_timers(uow, moment)
            for event_id in fired:
                with SqlAlchemyUnitOfWork(engine) as uow:
                    apply_event(uow, event_id, moment)
        else:
            return
        if moment > now:
            return


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
