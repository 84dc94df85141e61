"""Who may see which patient, and an audit row for each patient a response shows.

A route that would show patients (names, MRNs, recorded values) asks `PatientView.reveal` which
of them the caller may see: admins and navigators every patient, a staff role only patients with
an open task of that role (and, on a task of its role, that task's patient), a dashboard none.
The patients granted are kept on the request, and `ReadAudit` writes one `patient_read` row
each (ids only, one INSERT for the request) just before a 200 goes out. A 304 Not Modified
showed nothing and an error showed nothing: no row. The row is written before the body is
sent, so a failed audit write fails the response too.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.security import Principal
from pathways.service.bus import Service
from pathways.service.commands import RecordPatientReads
from pathways.store.tables import OPEN_TASK_STATUSES, Enrollment, StaffTask

SHOWN = "carepath.patients_shown"  # the scope key: {"actor": str, "patients": set[str]}


def visible_patients(session: Session, who: Principal, patient_ids: Iterable[str]) -> set[str]:
    """Those of `patient_ids` the caller may identify (one query for staff, none otherwise)."""
    wanted = set(patient_ids)
    if not wanted or not who.sees_patients():
        return set()
    if who.sees_every_patient():
        return wanted
    in_care = (
        select(Enrollment.patient_id)
        .join(StaffTask, col(StaffTask.enrollment_id) == col(Enrollment.id))
        .where(
            col(Enrollment.patient_id).in_(sorted(wanted)),
            StaffTask.role == who.role,
            col(StaffTask.status).in_(OPEN_TASK_STATUSES),
        )
        .distinct()
    )
    return set(session.exec(in_care))


@dataclass(frozen=True)
class PatientView:
    """The caller's view of patients for one request: what it may see is what gets audited."""

    request: Request
    session: Session
    who: Principal

    def reveal(self, patient_ids: Iterable[str]) -> set[str]:
        """The patients the caller may see of these, recorded to be audited if shown."""
        allowed = visible_patients(self.session, self.who, patient_ids)
        if allowed:
            self._record(allowed)
        return allowed

    def shows(self, patient_id: str) -> bool:
        """Whether the caller may see this patient (recorded to be audited if so)."""
        return bool(self.reveal([patient_id]))

    def shows_on_task(self, patient_id: str, task_role: str) -> bool:
        """Whether the caller may see the patient on a task: staff on their role's, even done."""
        if not (self.who.sees_patients() and self.who.role == task_role):
            return self.shows(patient_id)
        self._record({patient_id})
        return True

    def _record(self, allowed: set[str]) -> None:
        shown = self.request.scope.setdefault(SHOWN, {"actor": self.who.actor, "ids": set()})
        shown["ids"] |= allowed


class ReadAudit:
    """ASGI middleware: writes the `patient_read` rows of a request as its 200 starts."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def audited(message: Message) -> None:
            shown = scope.get(SHOWN)
            if message["type"] == "http.response.start" and message["status"] == 200 and shown:
                service: Service = scope["app"].state.service
                via = f"{scope['method']} {scope['path']}"
                reads = RecordPatientReads(
                    actor=shown["actor"], patient_ids=tuple(shown["ids"]), via=via
                )
                await run_in_threadpool(service.handle, reads)
            await send(message)

        await self.app(scope, receive, audited)
