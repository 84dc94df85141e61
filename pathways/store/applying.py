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

from sqlalchemy import select as core_select
from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from pathways.runtime.definition import Definition
from pathways.runtime.engine import step
from pathways.runtime.events import EventRejected
from pathways.runtime.progress import standing
from pathways.runtime.state import TERMINAL, State
from pathways.store.changes import record_enrollment_change
from pathways.store.definitions import pinned
from pathways.store.effects import audit, engine_task, set_status, write_effects
from pathways.store.events import engine_event
from pathways.store.tables import Enrollment, PathwayEvent, Timer
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork

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
    pending = session.exec(
        select(PathwayEvent)
        .where(
            col(PathwayEvent.enrollment_id).in_(list(enrollments)),
            col(PathwayEvent.processed_at).is_(None),
        )
        .order_by(col(PathwayEvent.enrollment_id), col(PathwayEvent.id))
    ).all()
    outcomes: list[Applied] = []
    for enrollment in enrollments.values():
        events = [event for event in pending if event.enrollment_id == enrollment.id]
        # N's message applies N and what precedes it; later events have messages of their own
        events = (
            [event for event in events if (event.id or 0) <= event_id]
            if enrollment is first
            else events[:PER_ENROLLMENT]
        )
        outcomes.extend(_apply_in_order(session, enrollment, events, now, set_aside))
    if not any(outcome.event_id == event_id for outcome in outcomes):
        outcomes.append(_settled(session, event_id))
    return outcomes


def ready_enrollments(session: Session, limit: int) -> list[str]:
    """Enrollments with the oldest unprocessed events: the rest of a group commit."""
    oldest = (
        select(PathwayEvent.enrollment_id)
        .where(col(PathwayEvent.processed_at).is_(None), col(PathwayEvent.quarantined_at).is_(None))
        .order_by(col(PathwayEvent.id))
        .limit(limit)
    )
    return list(dict.fromkeys(session.exec(oldest)))


def _locked_enrollment_of(uow: SqlAlchemyUnitOfWork, event_id: int) -> Enrollment | None:
    owner = core_select(col(PathwayEvent.enrollment_id)).where(col(PathwayEvent.id) == event_id)
    query = select(Enrollment).where(col(Enrollment.id) == owner.scalar_subquery())
    if uow.locks_rows:
        query = query.with_for_update(key_share=True)  # FOR NO KEY UPDATE
    return uow.session.exec(query.execution_options(populate_existing=True)).first()


def _lock_ready(uow: SqlAlchemyUnitOfWork, ids: list[str]) -> list[Enrollment]:
    query = select(Enrollment).where(col(Enrollment.id).in_(ids)).order_by(col(Enrollment.id))
    if uow.locks_rows:
        query = query.with_for_update(key_share=True, skip_locked=True)
    return list(uow.session.exec(query.execution_options(populate_existing=True)))


def _settled(session: Session, event_id: int) -> Applied:
    event = session.get(PathwayEvent, event_id)
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
    """Step the engine through `events` (one enrollment's, in id order) and write it all."""
    if not events:
        return []
    definition = pinned(session, enrollment)
    state: State = enrollment.state
    seq = enrollment.version
    outcomes: list[Applied] = []
    before = (enrollment.status, enrollment.flag)
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
        try:
            state, outcome = _apply_one(session, enrollment, definition, state, event, seq, now)
        except Exception as error:  # an error, not a rejection: roll the unit back
            raise EventFailed(event.id, enrollment.id, error) from error
        if outcome.outcome == "applied":
            seq += 1
        outcomes.append(outcome)
    if seq != enrollment.version:
        _write_state(session, enrollment, definition, state, seq, now)
    if (enrollment.status, enrollment.flag) != before:
        record_enrollment_change(session, enrollment, now)
    return outcomes


def _apply_one(
    session: Session,
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
        event.processed_at, event.rejected_reason = now, rejected.reason
        session.add(event)
        audit(
            session,
            event.actor,
            "event_rejected",
            "enrollment",
            enrollment.id,
            now,
            rejected.reason,
            {"event": event.id, "type": event.type},
        )
        session.flush()
        return state, Applied(event.id, "rejected", rejected.reason, enrollment.id)
    event.processed_at, event.applied_at, event.applied_seq = now, now, seq + 1
    session.add(event)
    _close_staff_work(session, enrollment, event, now)
    write_effects(session, enrollment, effects, event.actor, now)
    session.flush()  # an error in this event's rows is this event's, not the next one's
    return new_state, Applied(event.id, "applied", "", enrollment.id)


def _write_state(
    session: Session,
    enrollment: Enrollment,
    definition: Definition,
    state: State,
    seq: int,
    now: datetime,
) -> None:
    """The new state and the read columns it implies, guarded by the version read.

    The projection (expected steps, projected end) is not recomputed here, under the lock:
    see `pathways.store.projections`; the flag uses the latest projected end known."""
    now_standing = standing(definition, state, now)
    ended = state["status"] in TERMINAL
    values = {
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
    }
    if ended:  # nothing left to project
        values.update(projected_end=None, projected_version=seq)
    written = session.execute(
        update(Enrollment)
        .where(col(Enrollment.id) == enrollment.id, col(Enrollment.version) == enrollment.version)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if written.rowcount != 1:  # type: ignore[attr-defined]
        raise ConcurrentUpdate(f"enrollment {enrollment.id} changed while it was being applied")
    for name, value in values.items():  # the row now holds these; the object says so too
        set_committed_value(enrollment, name, value)


def _close_staff_work(
    session: Session, enrollment: Enrollment, event: PathwayEvent, now: datetime
) -> None:
    """The staff task or timer the event reports on is done."""
    if event.type == "task_completed":
        task = engine_task(session, enrollment.id, event.data["task"])
        task.recorded = event.data["data"]
        set_status(session, task, "completed", event.actor, now)
    elif event.type == "task_skipped":
        task = engine_task(session, enrollment.id, event.data["task"])
        reason = f"skipped: {event.data['reason']}"[:300]
        set_status(session, task, "cancelled", event.actor, now, reason)
    elif event.type == "timer_fired":
        timer = session.get(Timer, f"{enrollment.id}:{event.data['timer']}")
        if timer is not None and timer.fired_at is None:
            timer.fired_at = now
            session.add(timer)


def apply_event(uow: SqlAlchemyUnitOfWork, event_id: int, now: datetime) -> Applied:
    """Apply one event, after any earlier unprocessed event of its enrollment (uncommitted)."""
    outcomes = apply_events(uow, event_id, now)
    return next(outcome for outcome in outcomes if outcome.event_id == event_id)
