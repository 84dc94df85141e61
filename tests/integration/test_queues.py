"""Queues that cannot starve each other, with real worker processes on a private Redis.

A webhook receiver that keeps its first post in flight holds the deliveries worker, and only
it: events are applied and a timer fires through beat and the sweeps worker meanwhile. (One
worker serving every queue with one process fails this test: it is busy with the post.) The
proof is by order (all applied, and the timer fired, before the receiver answered anything),
never by how long anything took.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from celery import Celery
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from pathways.store.database import database_engine
from pathways.store.enrollments import enrol, record_event, register_patient
from pathways.store.staff_tasks import complete_task
from pathways.store.tables import PathwayEvent, StaffTask, WebhookDelivery
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork
from pathways.store.webhook_admin import subscribe
from tests.integration.processes import CarepathProcess, PrivateRedis, wait_until
from tests.writes import now, publish_drill

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@dataclass
class HeldReceiver:
    """A receiver that keeps every post in flight until released: a very slow receiver."""

    port: int = 0
    release: threading.Event = field(default_factory=threading.Event)
    arrived: int = 0
    answered: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def held_receiver() -> Iterator[HeldReceiver]:
    state = HeldReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with state.lock:
                state.arrived += 1
            # Trickle header lines until released: each read succeeds within the client's
            # timeout, so the post stays in flight (the slowest receiver a timeout allows).
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            self.wfile.flush()
            for _ in range(75):
                if state.release.wait(2):
                    break
                self.wfile.write(b"X-Still-Thinking: yes\r\n")
                self.wfile.flush()
            self.wfile.write(b"Content-Length: 0\r\nConnection: close\r\n\r\n")
            self.wfile.flush()
            with state.lock:
                state.answered += 1

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass
class Stack:
    redis: PrivateRedis
    engine: Engine
    env: dict[str, str]
    logs: Path
    started: list[CarepathProcess]

    def start(self, name: str, *args: str) -> None:
        self.started.append(CarepathProcess(list(args), self.env, self.logs / f"{name}.log"))

    def enqueue(self, event_id: int) -> None:
        client = Celery(broker=self.redis.url)
        try:
            client.send_task("carepath.apply_event", args=[event_id], queue="events")
        finally:
            client.close()

    def logs_text(self) -> str:
        return "\n".join(f"--- {p.log.name}\n{p.output()}" for p in self.started)


@pytest.fixture
def stack(database_url: str, tmp_path: Path) -> Iterator[Stack]:
    if shutil.which("redis-server") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server must be installed under CI=true (a private one is started)")
        pytest.skip("redis-server is not installed: these tests start a private one")
    redis = PrivateRedis(tmp_path)
    redis.start()
    engine = database_engine(database_url)
    env = {
        "CAREPATH_DATABASE_URL": database_url,
        "CAREPATH_BROKER_URL": redis.url,
        "CAREPATH_RECOVER_AFTER_SECONDS": "30",  # events must arrive by their queue, not recovery
    }
    built = Stack(redis, engine, env, tmp_path, [])
    try:
        publish_drill(engine)
        yield built
    finally:
        for process in built.started:
            process.stop()
        redis.stop()
        engine.dispose()


def _count(engine: Engine, *where: object) -> int:
    with Session(engine) as session:
        query = select(func.count()).select_from(PathwayEvent).where(*where)  # type: ignore[arg-type]
        return int(session.exec(query).one())


def _open_steps(engine: Engine, enrollment_id: str) -> set[str]:
    with Session(engine) as session:
        query = select(StaffTask.step).where(
            StaffTask.enrollment_id == enrollment_id, StaffTask.status == "ready"
        )
        return set(session.exec(query))


def _delivered(engine: Engine) -> int:
    with Session(engine) as session:
        query = (
            select(func.count())
            .select_from(WebhookDelivery)
            .where(WebhookDelivery.status == "delivered")
        )
        return int(session.exec(query).one())


def test_a_receiver_that_never_answers_holds_up_neither_events_nor_timers(
    stack: Stack, held_receiver: HeldReceiver
) -> None:
    with SqlAlchemyUnitOfWork(stack.engine) as uow:
        subscribe(uow.session, f"http://127.0.0.1:{held_receiver.port}/hooks", now())
        patient = register_patient(uow, "MRN-Q1", "Patient Queue", "kim", now())
        enrollment = enrol(uow, patient.id, "worker_drill", None, {}, {}, "kim", now())
        uow.commit()  # the first task's notification is in the outbox
    stack.start("events", "worker", "--queues", "events")
    stack.start("sweeps", "worker", "--queues", "sweeps")
    stack.start("deliveries", "worker", "--queues", "deliveries")
    stack.start("beat", "beat", "--schedule-file", str(stack.logs / "beat-schedule"))
    wait_until(
        lambda: held_receiver.arrived >= 1,
        60,
        "the deliveries worker to post the first notification\n" + stack.logs_text(),
    )

    with SqlAlchemyUnitOfWork(stack.engine) as uow:
        [first] = uow.session.exec(
            select(StaffTask).where(StaffTask.enrollment_id == enrollment.id)
        ).all()
        completed, _ = complete_task(uow, first.id, {}, "nurse.jones", now())
        pings = [
            record_event(uow, enrollment.id, "ping", {"number": n}, f"ping:{n}", "ehr", now())[0]
            for n in range(30)
        ]
        uow.commit()
    for event in [completed, *pings]:
        assert event.id is not None
        stack.enqueue(event.id)

    wait_until(
        lambda: (
            _count(stack.engine, col(PathwayEvent.processed_at).is_(None)) == 0
            and _open_steps(stack.engine, enrollment.id) >= {"second"}
        ),
        90,
        "every event applied and the 2 s timer fired while the receiver holds its posts\n"
        + stack.logs_text(),
    )
    # the one post in flight all along: the deliveries worker was held, and only it
    assert (held_receiver.arrived, held_receiver.answered) == (1, 0)
    assert _delivered(stack.engine) == 0
    assert _count(stack.engine, PathwayEvent.type == "timer_fired") == 1
    assert _count(stack.engine, col(PathwayEvent.rejected_reason).is_not(None)) == 0

    held_receiver.release.set()
    wait_until(
        lambda: _delivered(stack.engine) >= 1,
        90,
        "the deliveries worker to finish once the receiver answers\n" + stack.logs_text(),
    )
