"""Applying recorded events: in recording order per enrollment, under its lock, one commit.

A worker asked to apply event N locks N's enrollment, reads the unprocessed events of that
enrollment up to N in id order, and applies them in that order, N last. An event is therefore
never applied before an earlier event of its enrollment, whatever order the messages arrive
in: a message that arrives late finds its event already processed. Under a backlog the same
commit also takes the ready events of other enrollments (group commit).

Lock order, everywhere: the enrollment row first (FOR NO KEY UPDATE, which does not block the
foreign-key checks of rows inserted for it), then its tasks and timers.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, bindparam, or_
from sqlalchemy import select as core_select
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from pathways.runtime.definition import Definition
from pathways.runtime.engine import step
from pathways.runtime.events import EventRejected
from pathways.runtime.progress import standing
from pathways.runtime.state import FIRST_TREATMENT, TERMINAL, State, moment
from pathways.store.changes import change_row
from pathways.store.definitions import pinned
from pathways.store.effects import AUDIT, audit_row, end_timer, task_status, write_effects
from pathways.store.events import engine_event
from pathways.store.tables import Enrollment, PathwayEvent
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork
from pathways.store.writes import Bound, PendingWrites, bound_update

ENROLLMENTS: Table = Enrollment.__table__  # type: ignore[attr-defined]
EVENTS: Table = PathwayEvent.__table__  # type: ignore[attr-defined]
PER_ENROLLMENT = 20  # events of one other enrollment that join a group commit


class ConcurrentUpdate(Exception):
    """Another process changed the enrollment first; apply the event again."""


class EventFailed(Exception):
    """Applying an event raised an error (not a rejection): the whole unit is rolled back."""

    def __init__(self, event_id: int, enrollment_id: str, cause: BaseException) -> None:
        super().__init__(f"event {event_id} failed: {type(cause).__name__}")
        self.event_id = event_id
        self.enrollment_id = enrollment_id
        self.cause = cause


@dataclass(frozen=True)
class Applied:
    """What became of an event: applied, rejected (with the reason), already processed,
    waiting behind a quarantined event, or quarantined itself."""

    event_id: int
    outcome: str
    reason: str = ""
    enrollment_id: str = ""


def apply_events(
    uow: SqlAlchemyUnitOfWork,
    event_id: int,
    now: datetime,
    *,
    also: Iterable[str] = (),
    set_aside: Collection[int] = (),
) -> list[Applied]:
    """Apply event `event_id` and every earlier unprocessed event of its enrollment, in order.

    `also` names other enrollments whose oldest ready events join the same commit (group
    commit; those already locked by another worker are skipped). `set_aside` names events that
    failed in this job: each, and the later events of its enrollment, wait. The caller commits."""
    session = uow.session
    first = _locked_enrollment_of(uow, event_id)
    if first is None:
        return [Applied(event_id, "not_found", f"no event {event_id}")]
    enrollments = {first.id: first}
    extra = sorted(set(also) - {first.id})
    if extra:
        enrollments.update({row.id: row for row in _lock_ready(uow, extra)})
    # the unprocessed events of the locked enrollments, and N itself whatever its state
    loaded = session.exec(_PENDING, params={"enrollments": list(enrollments), "event_id": event_id})
    pending = list(loaded.all())
    outcomes: list[Applied] = []
    for enrollment in enrollments.values():
        events = [
            event
            for event in pending
            if event.enrollment_id == enrollment.id and event.processed_at is None
        ]
        # N's message applies N and what precedes it; later events have messages of their own
        events = (
            [event for event in events if (event.id or 0) <= event_id]
            if enrollment is first
            else events[:PER_ENROLLMENT]
        )
        outcomes.extend(_apply_in_order(session, enrollment, events, now, set_aside))
    if not any(outcome.event_id == event_id for outcome in outcomes):
        outcomes.append(_settled(pending, event_id))
    return outcomes


def settled_already(session: Session, event_id: int) -> Applied | None:
    """The outcome of a message whose event needs no work (applied or rejected already, or
    unknown), read without a lock: None when the event still waits to be applied.

    Under a backlog most messages find their event applied by another message's group
    commit; this one primary-key read is all they cost."""
    found = session.execute(
        core_select(EVENTS.c.processed_at, EVENTS.c.rejected_reason, EVENTS.c.enrollment_id).where(
            EVENTS.c.id == event_id
        )
    ).first()
    if found is None:
        return Applied(event_id, "not_found", f"no event {event_id}")
    if found.processed_at is not None:
        return Applied(
            event_id, "already_processed", found.rejected_reason or "", found.enrollment_id
        )
    return None


def ready_enrollments(session: Session, limit: int) -> list[str]:
    """Enrollments with the oldest unprocessed events: the rest of a group commit."""
    oldest = (
        select(PathwayEvent.enrollment_id)
        .where(col(PathwayEvent.processed_at).is_(None), col(PathwayEvent.quarantined_at).is_(None))
        .order_by(col(PathwayEvent.id))
        .limit(limit)
    )
    return list(dict.fromkeys(session.exec(oldest)))


# The read statements are built once (bound parameters), not once per event.
_OWNER = (
    core_select(EVENTS.c.enrollment_id)
    .where(EVENTS.c.id == bindparam("event_id"))
    .scalar_subquery()
)
_FIRST = (
    select(Enrollment).where(col(Enrollment.id) == _OWNER).execution_options(populate_existing=True)
)
_FIRST_LOCKED = _FIRST.with_for_update(key_share=True)  # FOR NO KEY UPDATE
_READY = (
    select(Enrollment)
    .where(col(Enrollment.id).in_(bindparam("enrollments", expanding=True)))
    .order_by(col(Enrollment.id))
    .execution_options(populate_existing=True)
)
_READY_LOCKED = _READY.with_for_update(key_share=True, skip_locked=True)
_PENDING = (
    select(PathwayEvent)
    .where(
        or_(
            and_(
                col(PathwayEvent.enrollment_id).in_(bindparam("enrollments", expanding=True)),
                col(PathwayEvent.processed_at).is_(None),
            ),
            col(PathwayEvent.id) == bindparam("event_id"),
        )
    )
    .order_by(col(PathwayEvent.enrollment_id), col(PathwayEvent.id))
)


def _locked_enrollment_of(uow: SqlAlchemyUnitOfWork, event_id: int) -> Enrollment | None:
    """The enrollment of event N, locked (first, as everywhere)."""
    query = _FIRST_LOCKED if uow.locks_rows else _FIRST
    return uow.session.exec(query, params={"event_id": event_id}).first()


def _lock_ready(uow: SqlAlchemyUnitOfWork, ids: list[str]) -> list[Enrollment]:
    query = _READY_LOCKED if uow.locks_rows else _READY
    return list(uow.session.exec(query, params={"enrollments": ids}))


def _settled(pending: list[PathwayEvent], event_id: int) -> Applied:
    event = next((event for event in pending if event.id == event_id), None)
    if event is None:
        return Applied(event_id, "not_found", f"no event {event_id}")
    if event.processed_at is not None:
        reason = event.rejected_reason or ""
        return Applied(event_id, "already_processed", reason, event.enrollment_id)
    return Applied(event_id, "waiting", "behind an event not yet applied", event.enrollment_id)


def _apply_in_order(
    session: Session,
    enrollment: Enrollment,
    events: list[PathwayEvent],
    now: datetime,
    set_aside: Collection[int],
) -> list[Applied]:
    """Step the engine through `events` (one enrollment's, in id order) and write it all.

    Each event's rows are held and sent as one statement on PostgreSQL (see
    `pathways.store.writes`), the last event's together with the enrollment's new state, so
    an error in an event's rows is still that event's, never the next one's."""
    if not events:
        return []
    definition = pinned(session, enrollment)
    state: State = enrollment.state
    seq = enrollment.version
    outcomes: list[Applied] = []
    writes = PendingWrites(session)
    sent_by: PathwayEvent | None = None  # the event whose rows are held
    for event in events:
        assert event.id is not None
        if event.quarantined_at is not None or event.id in set_aside:
            blocked = f"waiting behind event {event.id}, which failed" + (
                " and awaits an administrator" if event.quarantined_at is not None else ""
            )
            waiting = events[len(outcomes) :]
            outcomes.extend(
                Applied(e.id or 0, "waiting", blocked, e.enrollment_id) for e in waiting
            )
            break
        _send(writes, enrollment, sent_by)
        try:
            state, outcome = _apply_one(writes, enrollment, definition, state, event, seq, now)
        except Exception as error:  # an error, not a rejection: roll the unit back
            raise EventFailed(event.id, enrollment.id, error) from error
        sent_by = event
        if outcome.outcome == "applied":
            seq += 1
        outcomes.append(outcome)
    guard = None
    if seq != enrollment.version:
        guard = _new_state(writes, enrollment, definition, state, seq, now)
    _send(writes, enrollment, sent_by, guard)
    return outcomes


def _send(
    writes: PendingWrites,
    enrollment: Enrollment,
    event: PathwayEvent | None,
    guard: _Guard | None = None,
) -> None:
    """Send the held rows (an error in them is `event`'s) and the guarded state write."""
    if not writes and guard is None:
        return
    try:
        written = writes.send(guard.statement if guard else None)
    except Exception as error:
        assert event is not None and event.id is not None
        raise EventFailed(event.id, enrollment.id, error) from error
    if guard is None:
        return
    if written != 1:
        raise ConcurrentUpdate(f"enrollment {enrollment.id} changed while it was being applied")
    for name, value in guard.values.items():  # the row now holds these; the object says so too
        set_committed_value(enrollment, name, value)


def _apply_one(
    writes: PendingWrites,
    enrollment: Enrollment,
    definition: Definition,
    state: State,
    event: PathwayEvent,
    seq: int,
    now: datetime,
) -> tuple[State, Applied]:
    assert event.id is not None
    try:
        new_state, effects = step(definition, state, engine_event(event.type, event.data), now)
    except EventRejected as rejected:
        _mark(writes, event, processed_at=now, rejected_reason=rejected.reason)
        detail = {"event": event.id, "type": event.type}
        row = audit_row(
            event.actor, "event_rejected", "enrollment", enrollment.id, now, rejected.reason, detail
        )
        writes.insert(AUDIT, row)
        return state, Applied(event.id, "rejected", rejected.reason, enrollment.id)
    _mark(writes, event, processed_at=now, applied_at=now, applied_seq=seq + 1)
    _close_staff_work(writes, enrollment, event, now)
    write_effects(writes.session, enrollment, effects, event.actor, now, writes)
    return new_state, Applied(event.id, "applied", "", enrollment.id)


def _mark(writes: PendingWrites, event: PathwayEvent, **values: object) -> None:
    """The event is processed: held as an UPDATE, and the loaded row says so at once."""
    writes.update(bound_update(EVENTS, {"id": event.id}, values))
    for name, value in values.items():
        set_committed_value(event, name, value)


@dataclass(frozen=True)
class _Guard:
    """The enrollment's new state: an UPDATE that writes one row unless another process
    changed the enrollment first."""

    statement: Bound
    values: dict[str, Any]


def _new_state(
    writes: PendingWrites,
    enrollment: Enrollment,
    definition: Definition,
    state: State,
    seq: int,
    now: datetime,
) -> _Guard:
    """The new state and the read columns it implies, guarded by the version read.

    The projection (expected steps, projected end) is not recomputed here, under the lock:
    see `pathways.store.projections`; the flag uses the latest projected end known. A change
    of status or flag goes to the change log with it."""
    now_standing = standing(definition, state, now)
    ended = state["status"] in TERMINAL
    values: dict[str, Any] = {
        "state": state,
        "version": seq,
        "status": state["status"],
        "outcome": state["outcome"],
        "flag": now_standing.flag(now, enrollment.projected_end),
        "next_due_at": now_standing.next_due,
        "steps_done": now_standing.done,
        "steps_expected": now_standing.done
        if ended
        else max(enrollment.steps_expected, now_standing.done),
        "phase": now_standing.phase,
        "updated_at": now,
        # In the same UPDATE (the apply path's statement budget): the state's record when it
        # has one, else what the column holds (a backfill from before the state kept it).
        "first_treatment_at": first_treatment(state, enrollment.first_treatment_at),
    }
    if ended:  # nothing left to project
        values.update(projected_end=None, projected_version=seq)
    if (values["status"], values["flag"]) != (enrollment.status, enrollment.flag):
        writes.insert(
            *change_row(
                "enrollment", enrollment.id, enrollment.id, values["status"], values["flag"], now
            )
        )
    read = {"id": enrollment.id, "version": enrollment.version}
    statement = bound_update(ENROLLMENTS, read, values)
    return _Guard(statement, values)


def first_treatment(state: State, stored: datetime | None) -> datetime | None:
    """When the enrollment's first treatment was completed: the state's record, else `stored`
    (an enrollment from before the state kept it, its column backfilled by migration 0010)."""
    recorded = state.get(FIRST_TREATMENT)
    return moment(recorded) if recorded is not None else stored


def _close_staff_work(
    writes: PendingWrites, enrollment: Enrollment, event: PathwayEvent, now: datetime
) -> None:
    """The staff task or timer the event reports on is done."""
    if event.type == "task_completed":
        task_status(
            writes,
            enrollment.id,
            event.data["task"],
            "completed",
            event.actor,
            now,
            changes={"recorded": event.data["data"]},
        )
    elif event.type == "task_skipped":
        reason = f"skipped: {event.data['reason']}"[:300]
        task_status(
            writes, enrollment.id, event.data["task"], "cancelled", event.actor, now, reason
        )
    elif event.type == "timer_fired":
        end_timer(writes, f"{enrollment.id}:{event.data['timer']}", "fired_at", now)


def apply_event(uow: SqlAlchemyUnitOfWork, event_id: int, now: datetime) -> Applied:
    """Apply one event, after any earlier unprocessed event of its enrollment (uncommitted)."""
    outcomes = apply_events(uow, event_id, now)
    return next(outcome for outcome in outcomes if outcome.event_id == event_id)
