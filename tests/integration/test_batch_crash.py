"""A worker SIGKILLed in the middle of a group commit: every event is applied exactly once.

Forty enrollments of the worker drill each have three events recorded and enqueued (the
first task's completion, then two pings) before a worker serving the events queue starts,
so its first job sees a backlog and applies all of them in one transaction. A trigger the
test owns (schema `batch_crash`, dropped afterwards; no hook in product code) lets the
transaction apply HELD_AFTER events, then makes it wait on an advisory lock the test holds.
The test sees the worker's backend waiting there, SIGKILLs the worker's process group,
releases the lock (the orphaned backend finds its client gone and rolls back), drops the
trigger, and starts a fresh worker and beat, whose recovery sweep and group commits finish.

What each assertion guards:
- the held backend's counts, then `_nothing_committed`: the group commit is all or nothing.
  Committing per enrollment or per event would show as events processed outside the held
  transaction, or as events, tasks or timers left behind by the killed batch.
- `_every_event_processed`: nothing lost: no event left unapplied, rejected or quarantined
  (an event applied twice is rejected the second time: its task is no longer open).
- `_applied_once_in_order`: each enrollment's applied sequence is 1..version with no gap or
  repeat, in recording order (bench.soak.checks, the soak's own counts).
- `_each_task_opened_once`: one staff task per step instance and ping, each with exactly the
  status changes (and change-feed rows) of one application; one timer per enrollment.
- `_audited_once`: one audit entry per applied event, none for a rejection.
- `_replay_verifies`: `carepath replay --all --verify` rebuilds every stored state.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from celery import Celery
from sqlalchemy import Connection, Engine, text
from sqlmodel import Session, select

from bench.soak.checks import EventRow, duplicated, out_of_order
from pathways.store.database import database_engine
from pathways.store.enrollments import enrol, record_event, register_patient
from pathways.store.staff_tasks import complete_task
from pathways.store.tables import PathwayEvent, StaffTask
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork
from tests.integration.processes import CAREPATH, ROOT, CarepathProcess, PrivateRedis, wait_until
from tests.writes import now, publish_drill

ENROLLMENTS = 40
PINGS = 2  # per enrollment, after the completion: three events each, 120 in all
HELD_AFTER = 50  # events processed (of 118 in the first batch) when the next one waits
HOLD_KEY = 0x0BA7C4  # the advisory lock the held transaction waits on (this database's only)
HELD_NAME = "batch_crash held after"
pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

# Once HELD_AFTER events are processed (as the transaction sees it: those committed and its
# own), the next one waits, saying in pg_stat_activity how many of them this transaction
# wrote itself (its rows carry its xid as xmin).
HOLD_SQL = f"""
CREATE SCHEMA batch_crash;
CREATE FUNCTION batch_crash.hold_mid_batch() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE processed bigint; mine bigint;
BEGIN
  SELECT count(*), count(*) FILTER (WHERE xmin::text::bigint = mod(txid_current(), 4294967296))
  INTO processed, mine FROM public.pathway_event
  WHERE processed_at IS NOT NULL AND type <> 'enrolled';
  IF processed >= {HELD_AFTER} THEN
    PERFORM set_config('application_name', '{HELD_NAME} ' || processed || ' ' || mine, true);
    PERFORM pg_advisory_xact_lock({HOLD_KEY});
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER batch_crash_hold BEFORE UPDATE OF processed_at ON public.pathway_event
FOR EACH ROW WHEN (OLD.processed_at IS NULL AND NEW.processed_at IS NOT NULL)
EXECUTE FUNCTION batch_crash.hold_mid_batch();
"""
HELD_BACKEND = f"""
SELECT a.pid, a.application_name FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid
WHERE a.datname = current_database() AND a.application_name LIKE '{HELD_NAME} %'
  AND a.backend_xid IS NOT NULL
  AND l.locktype = 'advisory' AND l.objid = {HOLD_KEY} AND NOT l.granted
"""


class HeldBatches:
    """The trigger installed and its advisory lock held by a connection of the test's."""

    def __init__(self, holder: Connection) -> None:
        self.holder = holder

    def backend(self) -> tuple[int, int, int] | None:
        """The held transaction's backend pid, the events processed as it sees them and how
        many of those it applied itself, if it is waiting."""
        row = self.holder.execute(text(HELD_BACKEND)).first()
        if row is None:
            return None
        processed, mine = row[1].removeprefix(HELD_NAME).split()
        return int(row[0]), int(processed), int(mine)

    def release(self) -> None:
        """Let the held transaction go on."""
        self.holder.execute(text("SELECT pg_advisory_unlock_all()"))

    def alive(self, pid: int) -> bool:
        """Whether a backend is still connected."""
        found = self.holder.execute(
            text("SELECT 1 FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
        )
        return found.first() is not None


@contextmanager
def _batches_held(engine: Engine) -> Iterator[HeldBatches]:
    """Hold the transaction that processes event HELD_AFTER + 1 until released; then all gone."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as holder:
        holder.execute(text(f"SELECT pg_advisory_lock({HOLD_KEY})"))
        try:
            holder.exec_driver_sql(HOLD_SQL)
            yield HeldBatches(holder)
        finally:
            holder.execute(text("SELECT pg_advisory_unlock_all()"))
            # a backend still held (the test failed before the kill) would block the DROP
            holder.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    f"WHERE datname = current_database() AND application_name LIKE '{HELD_NAME}%'"
                )
            )
            holder.exec_driver_sql("DROP SCHEMA IF EXISTS batch_crash CASCADE")


def _backlog(engine: Engine) -> list[int]:
    """Enrollments of the drill, each with its completion and pings recorded (ids in order)."""
    enrollments = []
    with SqlAlchemyUnitOfWork(engine) as uow:
        for n in range(ENROLLMENTS):
            patient = register_patient(uow, f"MRN-C{n:02}", f"Patient Crash{n:02}", "kim", now())
            enrollments.append(enrol(uow, patient.id, "worker_drill", None, {}, {}, "kim", now()))
        uow.commit()
    event_ids = []
    with SqlAlchemyUnitOfWork(engine) as uow:  # first every completion, then each ping round:
        for enrollment in enrollments:  # the oldest events span every enrollment
            first = uow.session.exec(
                select(StaffTask).where(StaffTask.enrollment_id == enrollment.id)
            ).one()
            event, _ = complete_task(uow, first.id, {}, "nurse.jones", now())
            event_ids.append(event.id)
        for ping in range(PINGS):
            for enrollment in enrollments:
                event, _ = record_event(
                    uow, enrollment.id, "ping", {"number": ping}, f"ping:{ping}", "ehr", now()
                )
                event_ids.append(event.id)
        uow.commit()
    return [event_id for event_id in event_ids if event_id is not None]


def _enqueue(broker_url: str, event_ids: list[int]) -> None:
    client = Celery(broker=broker_url)
    try:
        for event_id in event_ids:
            client.send_task("carepath.apply_event", args=[event_id], queue="events")
    finally:
        client.close()


def _count(engine: Engine, sql: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(sql)).scalar_one())


def _nothing_committed(engine: Engine) -> None:
    counts = {
        "events processed (enrolment aside)": _count(
            engine,
            "SELECT count(*) FROM pathway_event WHERE processed_at IS NOT NULL "
            "AND type <> 'enrolled'",
        ),
        "tasks beyond each first": _count(
            engine, f"SELECT count(*) - {ENROLLMENTS} FROM staff_task"
        ),
        "timers": _count(engine, "SELECT count(*) FROM timer"),
        "enrollments advanced": _count(engine, "SELECT count(*) FROM enrollment WHERE version > 1"),
    }
    assert counts == dict.fromkeys(counts, 0), f"part of the killed batch was committed: {counts}"


def _unprocessed(engine: Engine) -> int:
    return _count(engine, "SELECT count(*) FROM pathway_event WHERE processed_at IS NULL")


def _finished(engine: Engine) -> bool:
    """Every event applied and every enrollment past its 2 s wait (its timer fired)."""
    seconds = _count(engine, "SELECT count(*) FROM staff_task WHERE step = 'second'")
    return seconds >= ENROLLMENTS and _unprocessed(engine) == 0


def _every_event_processed(events: list[PathwayEvent]) -> None:
    # completion + pings + enrolment + one timer_fired, for each enrollment
    assert len(events) == ENROLLMENTS * (PINGS + 3)
    assert [e.id for e in events if e.processed_at is None] == [], "events lost"
    rejected = {e.id: e.rejected_reason for e in events if e.rejected_reason is not None}
    assert rejected == {}, "events rejected: applied twice, or out of order"
    assert [e.id for e in events if e.quarantined_at is not None or e.attempts] == []


def _applied_once_in_order(engine: Engine, events: list[PathwayEvent]) -> None:
    rows = [
        EventRow(
            e.id or 0,
            e.enrollment_id,
            e.type,
            e.data,
            e.recorded_at,
            e.processed_at,
            e.applied_seq,
            e.rejected_reason is not None,
        )
        for e in events
    ]
    assert out_of_order(rows) == []
    with engine.connect() as connection:
        versions = {e: v for e, v in connection.execute(text("SELECT id, version FROM enrollment"))}
        tasks = connection.execute(text("SELECT enrollment_id, engine_task FROM staff_task"))
        assert all(not found for found in duplicated(rows, [(e, t) for e, t in tasks]).values())
    seqs: dict[str, list[int]] = {}
    for e in events:
        seqs.setdefault(e.enrollment_id, []).append(e.applied_seq or 0)
    gaps = {
        enrollment: sorted(found)
        for enrollment, found in seqs.items()
        if sorted(found) != list(range(1, versions[enrollment] + 1))
    }
    assert gaps == {}, "an enrollment's version and its applied events disagree"


def _each_task_opened_once(engine: Engine) -> None:
    with engine.connect() as connection:
        titles = connection.execute(
            text(
                "SELECT enrollment_id, string_agg(title, '|' ORDER BY title) FROM staff_task "
                "GROUP BY enrollment_id"
            )
        ).all()
        history = connection.execute(
            text(
                "SELECT t.title, (SELECT string_agg(c.status, '|' ORDER BY c.id) "
                "FROM staff_task_status_change c WHERE c.task_id = t.id), "
                "(SELECT count(*) FROM change_log f WHERE f.target_id = t.id) FROM staff_task t"
            )
        ).all()
    expected = "|".join(sorted(["First task", "Second task", "Ping 0", "Ping 1"]))
    assert len(titles) == ENROLLMENTS
    assert [row for row in titles if row[1] != expected] == [], "a task opened twice or never"
    changes = Counter((title, statuses, feed) for title, statuses, feed in history)
    assert changes == {
        ("First task", "ready|completed", 2): ENROLLMENTS,
        ("Second task", "ready", 1): ENROLLMENTS,
        ("Ping 0", "ready", 1): ENROLLMENTS,
        ("Ping 1", "ready", 1): ENROLLMENTS,
    }
    fired = "SELECT count(DISTINCT enrollment_id) FROM timer WHERE fired_at IS NOT NULL"
    assert _count(engine, "SELECT count(*) FROM timer") == _count(engine, fired) == ENROLLMENTS


def _audited_once(engine: Engine) -> None:
    with engine.connect() as connection:
        actions = connection.execute(
            text(
                "SELECT action, count(*) FROM audit_log WHERE target_type = 'enrollment' "
                "GROUP BY action"
            )
        ).all()
    per_enrollment = {"enrolled": 1, "task_completed": 1, "ping": PINGS, "timer_fired": 1}
    assert dict(actions) == {a: n * ENROLLMENTS for a, n in per_enrollment.items()}


def _replay_verifies(env: dict[str, str]) -> None:
    done = subprocess.run(
        [*CAREPATH, "replay", "--all", "--verify"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert f"{ENROLLMENTS} enrollment(s) replayed, 0 differ" in done.stderr


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A private Redis (its own port): the queues of no other test are touched."""
    if shutil.which("redis-server") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server must be installed under CI=true (a private one is started)")
        pytest.skip("redis-server is not installed: this test starts a private one")
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_a_worker_killed_mid_batch_leaves_every_event_applied_exactly_once(
    database_url: str, redis: PrivateRedis, tmp_path: Path
) -> None:
    engine = database_engine(database_url)
    env = {
        "CAREPATH_DATABASE_URL": database_url,
        "CAREPATH_BROKER_URL": redis.url,
        "CAREPATH_RECOVER_AFTER_SECONDS": "3",
    }
    started: list[CarepathProcess] = []
    try:
        publish_drill(engine)
        event_ids = _backlog(engine)
        _enqueue(redis.url, event_ids)  # all queued first: the first job sees the backlog
        with _batches_held(engine) as batches:
            doomed = CarepathProcess(["worker", "--queues", "events"], env, tmp_path / "doomed.log")
            started.append(doomed)
            wait_until(
                lambda: batches.backend() is not None,
                60,
                lambda: "the worker's batch to be held mid-transaction\n" + doomed.output(),
            )
            held = batches.backend()
            assert held is not None
            pid, processed, mine = held  # part way through the batch, all of it uncommitted:
            assert (processed, mine) == (HELD_AFTER, HELD_AFTER), "a batch committed in parts"
            doomed.kill()  # the whole process group: the main process and its pool child
            batches.release()  # the orphaned backend goes on, finds its client gone, rolls back
            wait_until(lambda: not batches.alive(pid), 30, f"backend {pid} to end by itself")
        _nothing_committed(engine)

        started.append(CarepathProcess(["worker"], env, tmp_path / "fresh.log"))
        started.append(
            CarepathProcess(
                ["beat", "--schedule-file", str(tmp_path / "beat-schedule")],
                env,
                tmp_path / "beat.log",
            )
        )
        wait_until(
            lambda: _finished(engine),
            90,
            lambda: (
                "a fresh worker (and recovery) to apply everything\n"
                + "\n".join(f"--- {p.log.name}\n{p.output()}" for p in started)
            ),
        )
        with Session(engine) as session:
            events = list(session.exec(select(PathwayEvent).order_by(PathwayEvent.id)))
        _every_event_processed(events)
        _applied_once_in_order(engine, events)
        _each_task_opened_once(engine)
        _audited_once(engine)
        _replay_verifies(env)
    finally:
        for process in started:
            process.stop()
        engine.dispose()
