"""One lock order on PostgreSQL: the API and the sweeps never wait on a worker in a cycle.

A worker locks an enrollment, then its tasks and timers. The API locks at most a task (a
claim) and never an enrollment; the rows it inserts refer to the enrollment, which takes a
KEY SHARE lock that the worker's FOR NO KEY UPDATE does not block. The overdue sweep locks
enrollments before tasks and skips those a worker holds.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from pathways.store.applying import _locked_enrollment_of
from pathways.store.effects import set_status
from pathways.store.enrollments import enrol, register_patient
from pathways.store.staff_tasks import (
    TaskConflict,
    claim_task,
    complete_task,
    escalate_overdue,
    skip_task,
)
from pathways.store.tables import PathwayEvent, StaffTask
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork
from tests import writes
from tests.conftest import toronto

T0 = toronto(2026, 11, 23, 9, 0)
LABS = {"anc": 2100, "platelets": 180000}


def _enrol(engine: Engine, mrn: str) -> str:
    with SqlAlchemyUnitOfWork(engine) as uow:
        patient = register_patient(uow, mrn, f"Patient {mrn}", "kim", T0)
        enrollment_id = enrol(uow, patient.id, "chemotherapy", None, {}, {}, "kim", T0).id
        uow.commit()
    return enrollment_id


def _open_tasks(engine: Engine, enrollment_id: str) -> list[StaffTask]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(StaffTask)
                .where(StaffTask.enrollment_id == enrollment_id)
                .where(col(StaffTask.status).in_(("ready", "in-progress")))
                .order_by(col(StaffTask.id))
            )
        )


def _in_thread(work: Callable[[], object]) -> tuple[threading.Event, list[BaseException]]:
    done, errors = threading.Event(), []

    def run() -> None:
        try:
            work()
        except BaseException as error:
            errors.append(error)
        done.set()

    threading.Thread(target=run, daemon=True).start()
    return done, errors


def _holding_the_enrollment(engine: Engine, enrollment_id: str) -> SqlAlchemyUnitOfWork:
    """A worker's unit of work, holding the enrollment's lock as applying an event does."""
    uow = SqlAlchemyUnitOfWork(engine).__enter__()
    enrolled = uow.session.exec(
        select(PathwayEvent.id).where(PathwayEvent.enrollment_id == enrollment_id)
    ).first()
    assert enrolled is not None
    assert _locked_enrollment_of(uow, enrolled) is not None
    return uow


def _short_lock_timeout(uow: SqlAlchemyUnitOfWork) -> None:
    uow.session.connection().execute(text("SET LOCAL lock_timeout = '5s'"))


def test_the_api_records_a_completion_while_a_worker_holds_the_enrollment(pg: Engine) -> None:
    enrollment_id = _enrol(pg, "MRN-LOCK1")
    task = next(t for t in _open_tasks(pg, enrollment_id) if t.step == "baseline_labs")
    worker = _holding_the_enrollment(pg, enrollment_id)

    def api_completes() -> None:
        with SqlAlchemyUnitOfWork(pg) as uow:
            _short_lock_timeout(uow)
            complete_task(uow, task.id, LABS, "lab.kim", T0)
            uow.commit()

    done, errors = _in_thread(api_completes)
    assert done.wait(30) and errors == []  # the API did not wait for the worker's lock
    # ... and the worker, going on to the task, does not wait for the API either
    _short_lock_timeout(worker)
    locked = worker.session.get(StaffTask, task.id, with_for_update=True)
    assert locked is not None
    set_status(worker.session, locked, "in-progress", "worker", T0)
    worker.commit()
    worker.__exit__(None, None, None)


def test_the_overdue_sweep_skips_an_enrollment_a_worker_holds(pg: Engine) -> None:
    enrollment_id = _enrol(pg, "MRN-LOCK2")
    later = T0 + timedelta(days=30)  # every baseline task is overdue by then
    worker = _holding_the_enrollment(pg, enrollment_id)

    def sweep() -> None:
        with SqlAlchemyUnitOfWork(pg) as uow:
            _short_lock_timeout(uow)
            assert escalate_overdue(uow, later) == 0
            uow.commit()

    done, errors = _in_thread(sweep)
    assert done.wait(30) and errors == []
    worker.__exit__(None, None, None)  # the worker is done: the next run escalates
    with SqlAlchemyUnitOfWork(pg) as uow:
        assert escalate_overdue(uow, later) == len(_open_tasks(pg, enrollment_id)) > 0


def test_api_workers_and_sweeps_hammering_the_same_enrollments_never_deadlock(
    pg: Engine,
) -> None:
    enrollments = [_enrol(pg, f"MRN-HAMMER{n}") for n in range(3)]
    failures: list[BaseException] = []
    rounds = 25

    def staff(seed: int) -> None:
        chance = random.Random(seed)
        for _ in range(rounds):
            tasks = [t for e in enrollments for t in _open_tasks(pg, e)]
            if not tasks:
                return
            task = chance.choice(tasks)
            try:
                with SqlAlchemyUnitOfWork(pg) as uow:
                    action = chance.choice(("claim", "complete", "skip"))
                    fits = set(task.record_fields) <= set(LABS)
                    if action == "claim":
                        claim_task(uow, task.id, f"staff{seed}", T0)
                    elif action == "complete" and fits:
                        data = {name: LABS[name] for name in task.record_fields}
                        complete_task(uow, task.id, data, "s", T0)
                    else:
                        skip_task(uow, task.id, "not needed", "s", T0)
                    uow.commit()
            except TaskConflict:
                pass  # another thread got there first: the answer a person would get

    def worker() -> None:
        for _ in range(rounds * 2):
            with Session(pg) as session:
                pending = session.exec(
                    select(PathwayEvent.id).where(col(PathwayEvent.processed_at).is_(None))
                ).all()
            for event_id in pending:
                assert event_id is not None
                writes.apply(pg, event_id)

    def sweeps() -> None:
        for minute in range(rounds):
            with SqlAlchemyUnitOfWork(pg) as uow:
                escalate_overdue(uow, T0 + timedelta(days=10, minutes=minute))
                uow.commit()

    def guarded(work: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                work()
            except BaseException as error:
                failures.append(error)

        return run

    threads = [
        threading.Thread(target=guarded(job))
        for job in (lambda: staff(1), lambda: staff(2), worker, worker, sweeps)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []  # no deadlock detected, no 500-worthy error of any kind
    with Session(pg) as session:
        failed = session.exec(select(PathwayEvent.id).where(PathwayEvent.attempts > 0)).all()
        applied = session.exec(
            select(PathwayEvent.id).where(col(PathwayEvent.applied_seq).is_not(None))
        ).all()
    assert failed == []  # no event's application failed (a deadlock would count here)
    assert len(applied) > len(enrollments)  # the staff's events were applied, not only enrolments
