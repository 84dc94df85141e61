"""Workers and beat as real processes on a private Redis and PostgreSQL.

enrol -> tasks appear; complete -> the pathway advances; a 2 s timer fires through beat;
a worker SIGKILLed mid-stream and a Redis restart lose nothing and duplicate nothing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from celery import Celery
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from pathways.store.database import database_engine
from pathways.store.enrollments import enrol, record_event, register_patient
from pathways.store.replay import replay
from pathways.store.staff_tasks import complete_task
from pathways.store.tables import Enrollment, PathwayEvent, StaffTask
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork
from tests.integration.processes import CarepathProcess, PrivateRedis, SharedRedis, wait_until
from tests.writes import now, publish_drill

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@dataclass
class Stack:
    """A Redis (private, or the machine's), the database, and workers and beat to start."""

    redis: PrivateRedis | SharedRedis
    engine: Engine
    env: dict[str, str]
    logs: Path
    started: list[CarepathProcess]

    def worker(self) -> CarepathProcess:
        process = CarepathProcess(
            ["worker"], self.env, self.logs / f"worker{len(self.started)}.log"
        )
        self.started.append(process)
        return process

    def beat(self) -> CarepathProcess:
        process = CarepathProcess(
            ["beat", "--schedule-file", str(self.logs / "beat-schedule")],
            self.env,
            self.logs / "beat.log",
        )
        self.started.append(process)
        return process

    def enqueue(self, event_id: int) -> None:
        client = Celery(broker=self.redis.url)
        try:
            client.send_task("carepath.apply_event", args=[event_id], queue="events")
        finally:
            client.close()

    def logs_text(self) -> str:
        return "\n".join(f"--- {p.log.name}\n{p.output()}" for p in self.started)


def _redis(request: pytest.FixtureRequest, tmp_path: Path) -> PrivateRedis | SharedRedis:
    ci = os.environ.get("CI") == "true"
    if getattr(request, "param", "private") == "shared":
        shared = SharedRedis()
        problem = shared.reachable()
        if problem and ci:
            pytest.fail(f"the machine's Redis must be reachable under CI=true: {problem}")
        if problem:
            pytest.skip(f"the machine's Redis is not reachable ({shared.url}): {problem}")
        return shared
    if shutil.which("redis-server") is None:
        if ci:
            pytest.fail("redis-server must be installed under CI=true (a private one is started)")
        pytest.skip("redis-server is not installed: the worker tests start a private one")
    return PrivateRedis(tmp_path)


@pytest.fixture
def stack(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Stack]:
    redis = _redis(request, tmp_path)
    redis.start()
    engine = database_engine(database_url)
    built = Stack(redis, engine, {}, tmp_path, [])
    try:
        publish_drill(engine)
        built.env = {
            "CAREPATH_DATABASE_URL": database_url,
            "CAREPATH_BROKER_URL": redis.url,
            "CAREPATH_RECOVER_AFTER_SECONDS": "3",
        }
        yield built
    finally:
        for process in built.started:
            process.stop()
        redis.stop()
        engine.dispose()


def _enrol(stack: Stack) -> str:
    with SqlAlchemyUnitOfWork(stack.engine) as uow:
        patient = register_patient(uow, "MRN-W1", "Patient Worker", "kim", now())
        enrollment = enrol(uow, patient.id, "worker_drill", None, {}, {}, "kim", now())
        uow.commit()
    return enrollment.id


def _open_steps(stack: Stack, enrollment_id: str) -> set[str]:
    with Session(stack.engine) as session:
        return set(
            session.exec(
                select(StaffTask.step).where(
                    StaffTask.enrollment_id == enrollment_id, StaffTask.status == "ready"
                )
            )
        )


def _pings(stack: Stack, enrollment_id: str, first: int, count: int) -> list[int]:
    with SqlAlchemyUnitOfWork(stack.engine) as uow:
        ids = []
        for n in range(first, first + count):
            event, _ = record_event(
                uow, enrollment_id, "ping", {"number": n}, f"ping:{n}", "ehr", now()
            )
            assert event.id is not None
            ids.append(event.id)
        uow.commit()
    return ids


def _unprocessed(stack: Stack) -> int:
    with Session(stack.engine) as session:
        return int(
            session.exec(
                select(func.count())
                .select_from(PathwayEvent)
                .where(col(PathwayEvent.processed_at).is_(None))
            ).one()
        )


def _ping_tasks(stack: Stack, enrollment_id: str) -> list[str]:
    with Session(stack.engine) as session:
        return list(
            session.exec(
                select(StaffTask.title).where(
                    StaffTask.enrollment_id == enrollment_id, StaffTask.step == "on.ping[0]"
                )
            )
        )


def _consistent(stack: Stack, enrollment_id: str, pings: int) -> None:
    titles = _ping_tasks(stack, enrollment_id)
    assert sorted(titles) == sorted(f"Ping {n}" for n in range(pings)), "lost or doubled"
    with Session(stack.engine) as session:
        rejected = session.exec(
            select(PathwayEvent).where(col(PathwayEvent.rejected_reason).is_not(None))
        ).all()
        assert rejected == []
        enrollment = session.get(Enrollment, enrollment_id)
        assert enrollment is not None and replay(session, enrollment).matches


@pytest.mark.parametrize("stack", ["shared", "private"], indirect=True)
def test_tasks_appear_complete_advances_and_a_two_second_timer_fires(stack: Stack) -> None:
    stack.worker()
    stack.beat()
    enrollment_id = _enrol(stack)
    assert _open_steps(stack, enrollment_id) == {"first"}
    with Session(stack.engine) as session:
        first = session.exec(
            select(StaffTask).where(StaffTask.enrollment_id == enrollment_id)
        ).one()
    with SqlAlchemyUnitOfWork(stack.engine) as uow:
        event, _ = complete_task(uow, first.id, {}, "nurse.jones", now())
        uow.commit()
    assert event.id is not None
    stack.enqueue(event.id)
    wait_until(
        lambda: _open_steps(stack, enrollment_id) == {"second"},
        30,
        "the worker to apply the completion and beat to fire the 2 s timer",
    )


def test_a_worker_killed_mid_stream_loses_and_duplicates_nothing(stack: Stack) -> None:
    stack.beat()
    enrollment_id = _enrol(stack)
    event_ids = _pings(stack, enrollment_id, 0, 60)
    for event_id in event_ids:
        stack.enqueue(event_id)
    doomed = stack.worker()
    wait_until(lambda: _unprocessed(stack) <= 45, 60, "the first worker to apply some events")
    doomed.kill()
    assert _unprocessed(stack) > 0, "the stream finished before the kill: nothing was tested"
    stack.worker()
    wait_until(
        lambda: _unprocessed(stack) == 0,
        90,
        "a second worker (and recovery) to apply the rest\n" + stack.logs_text(),
    )
    _consistent(stack, enrollment_id, 60)


def test_a_redis_restart_mid_stream_loses_nothing(stack: Stack) -> None:
    stack.worker()
    stack.beat()
    enrollment_id = _enrol(stack)
    for event_id in _pings(stack, enrollment_id, 0, 20):
        stack.enqueue(event_id)
    stack.redis.stop()
    during = _pings(stack, enrollment_id, 20, 20)  # recorded while the broker is down
    stack.redis.start()
    for event_id in _pings(stack, enrollment_id, 40, 20):
        stack.enqueue(event_id)
    assert during  # never enqueued: recovery must find them
    wait_until(
        lambda: _unprocessed(stack) == 0,
        90,
        "every event applied after the restart\n" + stack.logs_text(),
    )
    _consistent(stack, enrollment_id, 60)


def test_a_second_beat_exits_while_the_first_holds_the_lock(stack: Stack) -> None:
    from redis import Redis

    from workers.beat_lock import LOCK_KEY

    stack.beat()
    client = Redis.from_url(stack.redis.url)
    try:
        wait_until(lambda: client.exists(LOCK_KEY) == 1, 30, "the first beat to take the lock")
    finally:
        client.close()
    second = CarepathProcess(
        ["beat", "--schedule-file", str(stack.logs / "second-schedule")],
        stack.env,
        stack.logs / "second-beat.log",
    )
    try:
        assert second.process.wait(30) == 1
        assert "another beat is running" in second.output()
    finally:
        second.stop()
