"""3. End to end: POST an event, Celery on Redis applies it, the staff task is visible.

Real processes, as in distributed mode: a private `redis-server` (no persistence,
`noeviction`), PostgreSQL (a database of our own), `carepath api` (uvicorn, one process)
and `carepath worker --concurrency 2` (prefork, the compose default), with the shipped
library published. The event is a surgical complication (`surgical_complication`, kind
`bleeding`) on enrolled spine-surgery patients: the pathway's `on:` handler gives the
surgeon one stat task, "Urgent surgical review: bleeding", per event, at any point of the
pathway, so every event posted makes exactly one new staff task.

Latency: a load generator in this process (threads, each with its own keep-alive httpx
client) posts events on a fixed schedule of 100 per second (open loop: a slow answer does
not delay the next send), dealing them round robin over a pool of enrollments, so a
patient gets one event every two seconds or so. A poller thread reads PostgreSQL directly
every few milliseconds (one query counting the review tasks of the enrollments waiting
longest) and stamps an event's task as visible when its enrollment has as many as were
posted to it. Latency is from just before the POST is sent to the poll that saw the task.
Each run gives its own p50 and p99; the rows are those per-run percentiles. The CPU time
(/proc) the API, the worker and the PostgreSQL server processes of the bench database use
over each run and its drain, per event, says where the capacity goes.

Sustained rate: closed-loop saturation. N events are recorded (RecordEvent commands) and N
messages queued on Redis before the worker starts; the worker then drains the backlog. The
rate is taken from the worker's own log ("Task ... succeeded" time stamps), over the
completions after the first 10% (start-up and first compilation excluded). The same is done
with `bench/noop_worker.py`: a Celery app with carepath's broker, acknowledgement, prefetch
and serialisation settings, started with the same worker arguments, whose task does nothing.

Memory (section 5): the peak resident set (VmHWM) of each worker start (main process and
its largest pool child) and of the API process, read just before each is stopped.
"""

from __future__ import annotations

import re
import statistics
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from pathlib import Path

import httpx
from celery import Celery
from sqlalchemy import Engine, bindparam, text
from sqlmodel import Session, col, func, select

from bench.noop_worker import QUEUE as NOOP_QUEUE
from bench.noop_worker import TASK as NOOP_TASK
from bench.persisted import BrokenRun, with_services
from bench.results import Row, Section, Target, peak_rss_mib, percentile
from bench.services import (
    CAREPATH,
    Service,
    backends,
    children,
    cpu_seconds,
    free_port,
    grounds,
    healthy,
    wait_until,
)
from pathways.service.bus import Service as Carepath
from pathways.service.commands import Enrol, RecordEvent, RegisterPatient
from pathways.store.tables import PathwayEvent

TITLE = "3. End to end: POST event to staff task visible, through Celery on Redis"
MEMORY = "5. Memory: peak resident set"
DATABASE = "carepath_bench_e2e"
TOKEN = "bench-end-to-end-admin-token"
CONCURRENCY = 2  # `carepath worker --concurrency 2`, as docker-compose.yml runs it
RATE = 100.0  # events posted per second, steady
SENDERS = 8  # load generator threads
POLL_INTERVAL = 0.005  # s between the poller's queries
POLL_WINDOW = 64  # enrollments a query asks about: those waiting longest
PATHWAY, PATIENT = "surgery", {"smoker": False}
EVENT = "surgical_complication"
DATA = {"kind": "bleeding", "details": "Synthetic: wound ooze, haemodynamically stable"}
TASK_TITLE = "Urgent surgical review: bleeding"
WARM_UP_EVENTS = 40
SKIP_FIRST = 0.10  # share of a drain's completions left out of its rate (start-up)
TARGET_P99_MS, TARGET_SHARE = 100.0, 50.0


@dataclass(frozen=True)
class Size:
    """How much one mode measures."""

    latency_pool: int  # enrollments the steady load is dealt over
    saturation_pool: int  # enrollments the saturation events are dealt over
    seconds: float  # length of one steady run
    latency_runs: int
    saturation_events: int  # backlog per drain (carepath and no-op alike)
    saturation_runs: int


QUICK = Size(200, 100, 5.0, 3, 500, 2)
FULL = Size(1200, 500, 20.0, 5, 3000, 3)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise BrokenRun(message)


# --- Celery logs ------------------------------------------------------------------------------

# Celery's own format ("[at: INFO/Process] Task ...") or carepath's scrubbed one, which
# `carepath worker` and the no-op worker log through ("at INFO celery.app.trace: Task ...").
SUCCEEDED = re.compile(
    r"^\[?(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})(?:: INFO/[^\]]+\]| INFO \S+:) "
    r"Task (?P<task>\S+)\[[^\]]+\] succeeded in \S+s: (?P<result>.*)$"
)
FAILED = re.compile(r"Task \S+\[[^\]]+\] (raised|INTERNAL ERROR)")


@dataclass
class CeleryLog:
    """The completions a worker logged, read as the log grows."""

    path: Path
    offset: int = 0
    done: list[tuple[float, str]] = field(default_factory=list)  # (time stamp, result)

    def read(self, task: str) -> int:
        """Parse what was added since the last read; completions of `task` so far."""
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            chunk = handle.read()
        complete = chunk.rfind(b"\n") + 1
        self.offset += complete
        for line in chunk[:complete].decode(errors="replace").splitlines():
            if FAILED.search(line):
                raise BrokenRun(f"a task failed in the worker: {line}\n(log: {self.path})")
            found = SUCCEEDED.match(line)
            if found and found["task"] == task:
                at = datetime.strptime(found["at"], "%Y-%m-%d %H:%M:%S,%f").timestamp()
                self.done.append((at, found["result"]))
        return len(self.done)

    def rate(self) -> float:
        """Completions per second after the first SKIP_FIRST of them (start-up left out)."""
        stamps = sorted(at for at, _ in self.done)
        first = int(len(stamps) * SKIP_FIRST)
        return (len(stamps) - 1 - first) / (stamps[-1] - stamps[first])


# --- the stack --------------------------------------------------------------------------------


@dataclass
class Stack:
    """Redis, the database, the API and the pools of enrolled patients."""

    engine: Engine
    carepath: Carepath  # the bench's own writes, as commands (the worker is told by Redis)
    env: dict[str, str]
    logs: Path
    broker: str
    exits: ExitStack
    api_port: int = 0
    api: Service | None = None
    latency_pool: list[str] = field(default_factory=list)
    saturation_pool: list[str] = field(default_factory=list)
    starts: int = 0

    def start(self, name: str, command: list[str]) -> Service:
        """A service, stopped when the stack closes (or earlier, by the caller)."""
        self.starts += 1
        service = Service(f"{self.starts:02d}-{name}", command, self.env, self.logs)
        self.exits.callback(service.stop)
        return service

    def worker(self) -> Service:
        """`carepath worker --concurrency 2`."""
        return self.start("worker", [*CAREPATH, "worker", "--concurrency", str(CONCURRENCY)])

    def noop_worker(self) -> Service:
        """The no-op Celery worker, started with the same worker arguments."""
        command = [sys.executable, "-m", "bench.noop_worker", "--concurrency", str(CONCURRENCY)]
        return self.start("noop-worker", command)

    def client(self, default_queue: str = "events") -> Celery:
        """A Celery client on the stack's broker (the API's way of enqueueing)."""
        client = Celery("carepath-bench-client", broker=self.broker, set_as_current=False)
        client.conf.update(task_serializer="json", task_default_queue=default_queue)
        return client


def enrol_pool(carepath: Carepath, count: int, label: str) -> list[str]:
    """`count` patients enrolled on the surgery pathway: their enrollment ids."""
    ids = []
    for number in range(count):
        mrn = f"BENCH-E2E-{label}-{number:05d}"
        patient = carepath.handle(
            RegisterPatient(mrn=mrn, display_name=f"Bench {label} {number}", actor="bench")
        ).patient
        enrolled = carepath.handle(
            Enrol(
                patient_id=patient.id,
                pathway=PATHWAY,
                patient=PATIENT,
                idempotency_key=f"bench:e2e:{mrn}",
                actor="bench",
            )
        )
        ids.append(enrolled.enrollment.id)
    return ids


@contextmanager
def stack(size: Size) -> Iterator[Stack]:
    """Everything section 3 needs, torn down (processes, database, temp dir) on the way out."""
    with ExitStack() as exits:
        ready = grounds(exits, DATABASE, "carepath-bench-e2e-")
        carepath = Carepath.on(ready.engine)
        env = {**ready.env, "CAREPATH_ADMIN_TOKEN": TOKEN}
        built = Stack(
            ready.engine, carepath, env, ready.logs, ready.broker, exits, api_port=free_port()
        )
        api = built.start(
            "api", [*CAREPATH, "api", "--host", "127.0.0.1", "--port", str(built.api_port)]
        )
        built.api = api
        # the API starts while the pools enrol
        built.latency_pool = enrol_pool(carepath, size.latency_pool, "L")
        built.saturation_pool = enrol_pool(carepath, size.saturation_pool, "S")
        wait_until(lambda: healthy(built.api_port) or not api.alive(), 60, "the API")
        _check(api.alive(), f"the API did not start:\n{api.output()}")
        yield built


# --- sustained rate: draining a backlog -----------------------------------------------------


def _enqueue(client: Celery, task: str, arguments: list[int]) -> None:
    """One message per argument, on one producer connection; then let the client go."""
    try:
        with client.producer_or_acquire() as producer:
            for argument in arguments:
                client.send_task(task, args=[argument], producer=producer)
    finally:
        client.close()


def _drain(worker: Service, task: str, count: int) -> CeleryLog:
    """Wait for a worker to log `count` completions of `task`; its log, parsed."""
    log = CeleryLog(worker.log)
    wait_until(
        lambda: log.read(task) >= count or not worker.alive(),
        60 + count / 10,
        f"{worker.name} to drain {count} messages",
        every=0.2,
    )
    _check(worker.alive(), f"{worker.name} stopped:\n{worker.output()}")
    _check(len(log.done) == count, f"{worker.name}: {len(log.done)} completions, not {count}")
    return log


def drain_noop(built: Stack, count: int) -> float:
    """No-op tasks per second, from a backlog of `count` queued before the worker started."""
    _enqueue(built.client(NOOP_QUEUE), NOOP_TASK, list(range(count)))
    worker = built.noop_worker()
    try:
        log = _drain(worker, NOOP_TASK, count)
    finally:
        worker.stop()
    return log.rate()


def drain_carepath(built: Stack, count: int, run: int) -> tuple[float, tuple[float, float]]:
    """Events applied per second from a backlog of `count`; the worker's memory peaks."""
    pool = built.saturation_pool
    # recorded before the worker starts (one commit each), queued on Redis below, not by the
    # service: its nudge is nobody's, so the backlog is all there when the worker starts
    event_ids = [
        built.carepath.handle(
            RecordEvent(
                enrollment_id=pool[number % len(pool)],
                type=EVENT,
                data=DATA,
                idempotency_key=f"bench:drain:{run}:{number}",
                actor="bench",
                from_person=False,
            )
        ).event_id
        for number in range(count)
    ]
    _enqueue(built.client(), "carepath.apply_event", event_ids)
    worker = built.worker()
    try:
        log = _drain(worker, "carepath.apply_event", count)
        peaks = worker.peaks()
    finally:
        worker.stop()
    # under a backlog one message's group commit applies other enrollments' events too, so
    # their own messages find them done; the count below says every event was applied
    outcomes = {result.strip("'\"") for _, result in log.done}
    _check(
        outcomes <= {"applied", "already_processed"} and "applied" in outcomes,
        f"drain {run}: outcomes {sorted(outcomes)}",
    )
    with Session(built.engine) as session:
        applied = session.exec(
            select(func.count())
            .select_from(PathwayEvent)
            .where(
                col(PathwayEvent.id).in_(event_ids),
                col(PathwayEvent.applied_at).is_not(None),
                col(PathwayEvent.rejected_reason).is_(None),
            )
        ).one()
    _check(applied == count, f"drain {run}: {applied} of {count} events applied")
    return log.rate(), peaks


# --- latency: a steady load and a poller --------------------------------------------------------


class Tracker(threading.Thread):
    """Stamps each posted event when its review task is visible in the database."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(name="bench-visible-poller", daemon=True)
        self.engine = engine
        self.lock = threading.Lock()
        self.posted: dict[str, int] = {}  # enrollment -> events posted to it, ever
        self.pending: dict[str, deque[tuple[int, str]]] = {}  # -> (tasks needed, key)
        self.seen: dict[str, float] = {}  # key -> when its task was seen
        self.order: dict[str, None] = {}  # enrollments with pending events, oldest first
        self.halt = threading.Event()
        self.failure: BaseException | None = None
        self.polls = 0
        self.backend = 0  # the poller's own PostgreSQL server process
        self.ready = threading.Event()

    def expect(self, enrollment_id: str, key: str) -> None:
        """An event is about to be posted to the enrollment: watch for one more task."""
        with self.lock:
            needed = self.posted.get(enrollment_id, 0) + 1
            self.posted[enrollment_id] = needed
            self.pending.setdefault(enrollment_id, deque()).append((needed, key))
            self.order.setdefault(enrollment_id, None)

    def outstanding(self) -> int:
        """Events posted whose task has not been seen yet."""
        if self.failure is not None:
            raise BrokenRun(f"the poller failed: {self.failure!r}")
        with self.lock:
            return sum(len(queue) for queue in self.pending.values())

    def run(self) -> None:
        query = text(
            "SELECT enrollment_id, count(*) FROM staff_task "
            "WHERE enrollment_id IN :ids AND title = :title GROUP BY enrollment_id"
        ).bindparams(bindparam("ids", expanding=True))
        try:
            with self.engine.connect().execution_options(
                isolation_level="AUTOCOMMIT"
            ) as connection:
                self.backend = int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())
                self.ready.set()
                while not self.halt.is_set():
                    with self.lock:
                        waiting = list(islice(self.order, POLL_WINDOW))
                    if waiting:
                        rows = connection.execute(query, {"ids": waiting, "title": TASK_TITLE})
                        counts: dict[str, int] = {e: int(n) for e, n in rows.tuples()}
                        at = time.monotonic()
                        self.polls += 1
                        with self.lock:
                            for enrollment_id, tasks in counts.items():
                                queue = self.pending[enrollment_id]
                                while queue and queue[0][0] <= tasks:
                                    self.seen[queue.popleft()[1]] = at
                                if not queue:
                                    del self.order[enrollment_id]
                    time.sleep(POLL_INTERVAL)
        except BaseException as error:
            self.failure = error


@dataclass
class Steady:
    """One steady run: per event, when it was due, sent, answered and its task seen."""

    due: list[float]
    sent: list[float]
    answered: list[float]
    keys: list[str]
    errors: list[str]

    def latencies_ms(self, tracker: Tracker) -> list[float]:
        return [1000 * (tracker.seen[k] - s) for k, s in zip(self.keys, self.sent, strict=True)]

    def answers_ms(self) -> list[float]:
        return [1000 * (a - s) for a, s in zip(self.answered, self.sent, strict=True)]

    def achieved_rate(self) -> float:
        return (len(self.sent) - 1) / (max(self.sent) - min(self.sent))

    def tail_ms(self, tracker: Tracker) -> float:
        """From the last POST sent to the last task seen: long when the worker fell behind."""
        return 1000 * (max(tracker.seen[k] for k in self.keys) - max(self.sent))

    def late_ms(self) -> float:
        """The worst delay of a send behind its schedule."""
        return 1000 * max(s - d for s, d in zip(self.sent, self.due, strict=True))


def steady(
    built: Stack, tracker: Tracker, count: int, rate: float, first: int, label: str
) -> Steady:
    """Post `count` events at `rate` per second (open loop), enrollments dealt round robin."""
    pool = built.latency_pool
    result = Steady([0.0] * count, [0.0] * count, [0.0] * count, [""] * count, [])
    lock = threading.Lock()
    cursor = iter(range(count))
    begin = time.monotonic() + 0.2
    halt = threading.Event()

    def send() -> None:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        base = f"http://127.0.0.1:{built.api_port}"
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            while not halt.is_set():
                with lock:
                    number = next(cursor, None)
                if number is None:
                    return
                due = begin + number / rate
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                enrollment_id = pool[(first + number) % len(pool)]
                key = f"bench:{label}:{number}"
                tracker.expect(enrollment_id, key)
                sent = time.monotonic()
                try:
                    answer = client.post(
                        f"/enrollments/{enrollment_id}/events",
                        json={"type": EVENT, "data": DATA, "idempotency_key": key},
                    )
                    problem = "" if answer.status_code == 202 else f"HTTP {answer.status_code}"
                except httpx.HTTPError as error:
                    problem = f"{type(error).__name__}: {error}"
                answered = time.monotonic()
                result.due[number], result.sent[number] = due, sent
                result.answered[number], result.keys[number] = answered, key
                if problem:
                    result.errors.append(problem)

    threads = [threading.Thread(target=send, daemon=True) for _ in range(SENDERS)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        halt.set()
    _check(not result.errors, f"{label}: {len(result.errors)} posts failed: {result.errors[:3]}")
    wait_until(
        lambda: tracker.outstanding() == 0,
        60 + count / 10,  # a worker that fell behind drains its backlog after the run
        f"{label}: every task to be visible",
        0.05,
    )
    return result


# --- the section ----------------------------------------------------------------------------


@dataclass
class Measured:
    """Everything one run of the section measured."""

    p50: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    answer_p50: list[float] = field(default_factory=list)
    answer_p99: list[float] = field(default_factory=list)
    achieved: list[float] = field(default_factory=list)
    late: list[float] = field(default_factory=list)
    tail: list[float] = field(default_factory=list)
    applied: list[float] = field(default_factory=list)
    noop: list[float] = field(default_factory=list)
    worker_main: list[float] = field(default_factory=list)
    worker_child: list[float] = field(default_factory=list)
    api: list[float] = field(default_factory=list)
    polls_per_s: float = 0.0
    cpu_api: list[float] = field(default_factory=list)  # ms of CPU per event, per run
    cpu_worker: list[float] = field(default_factory=list)
    cpu_database: list[float] = field(default_factory=list)


def _used(before: dict[int, float], after: dict[int, float]) -> dict[int, float]:
    """CPU seconds each process used between two readings (processes alive at both)."""
    return {pid: after[pid] - before[pid] for pid in before if pid in after}


def _total(used: dict[int, float], pids: list[int]) -> float:
    return sum(used.get(pid, 0.0) for pid in pids)


def measure(size: Size) -> Measured:
    """Saturation drains (no-op, then carepath), then steady runs on one worker."""
    measured = Measured()
    with stack(size) as built:
        for run in range(size.saturation_runs):
            measured.noop.append(drain_noop(built, size.saturation_events))
            rate, (main, child) = drain_carepath(built, size.saturation_events, run)
            measured.applied.append(rate)
            measured.worker_main.append(main)
            measured.worker_child.append(child)
        worker = built.worker()
        tracker = Tracker(built.engine)
        tracker.start()
        try:
            tracker.ready.wait(30)
            steady(built, tracker, WARM_UP_EVENTS, 20.0, 0, "warm-up")
            assert built.api is not None
            api = [built.api.pid]
            pool = [worker.pid, *children(worker.pid)]
            database = backends(built.engine, DATABASE, tracker.backend)
            events = round(RATE * size.seconds)
            first = WARM_UP_EVENTS
            for run in range(size.latency_runs):
                polls, began = tracker.polls, time.monotonic()
                cpu = cpu_seconds(api + pool + database)
                done = steady(built, tracker, events, RATE, first, f"steady{run}")
                measured.polls_per_s = (tracker.polls - polls) / (time.monotonic() - began)
                used = _used(cpu, cpu_seconds(api + pool + database))
                measured.cpu_api.append(1000 * _total(used, api) / events)
                measured.cpu_worker.append(1000 * _total(used, pool) / events)
                measured.cpu_database.append(1000 * _total(used, database) / events)
                first += events
                latencies = done.latencies_ms(tracker)
                answers = done.answers_ms()
                measured.p50.append(percentile(latencies, 50))
                measured.p99.append(percentile(latencies, 99))
                measured.answer_p50.append(percentile(answers, 50))
                measured.answer_p99.append(percentile(answers, 99))
                measured.achieved.append(done.achieved_rate())
                measured.late.append(done.late_ms())
                measured.tail.append(done.tail_ms(tracker))
                time.sleep(1)
            main, child = worker.peaks()
            measured.worker_main.append(main)
            measured.worker_child.append(child)
            measured.api.append(peak_rss_mib(built.api.pid))
        finally:
            tracker.halt.set()
            tracker.join(5)
    return measured


def sections(size: Size, measured: Measured) -> list[Section]:
    """Section 3's rows and targets, and the memory rows of section 5."""
    m = measured
    setup = (
        f"PostgreSQL (database {DATABASE}), a private redis-server, `carepath api` (uvicorn, "
        f"1 process) and `carepath worker --concurrency {CONCURRENCY}` (prefork) as separate "
        "processes on this machine, with the load generator and poller. Event: "
        f"`{EVENT}` (kind bleeding) on spine-surgery enrollments; each makes one stat task "
        f"'{TASK_TITLE}'. Latency: {size.latency_runs} runs of {size.seconds:.0f} s at "
        f"{RATE:.0f} events/s, open loop, {SENDERS} sender threads, over "
        f"{size.latency_pool} enrollments; visible = seen by polling PostgreSQL directly "
        f"every {1000 * POLL_INTERVAL:.0f} ms (~{m.polls_per_s:.0f} queries/s); rows are "
        "per-run percentiles. CPU per event: user + system time (/proc) over each steady run "
        "and its drain, of the API, the worker with its pool, and the PostgreSQL server "
        "processes of the bench database (the poller's left out). Sustained: a backlog of "
        f"{size.saturation_events} messages queued before the worker starts, drained "
        f"{size.saturation_runs} times; rate from the worker's log time stamps, first "
        f"{100 * SKIP_FIRST:.0f}% of completions left out; the no-op worker "
        "(`bench/noop_worker.py`) has carepath's Celery settings and worker arguments."
    )
    share = [100 * a / n for a, n in zip(m.applied, m.noop, strict=True)]
    p99 = statistics.median(m.p99)
    sustained = statistics.median(share)
    section = Section(
        TITLE,
        setup,
        rows=[
            Row(
                "POST to staff task visible, p50",
                "ms",
                tuple(m.p50),
                f"at {statistics.median(m.achieved):.1f} events/s sent",
            ),
            Row(
                "POST to staff task visible, p99",
                "ms",
                tuple(m.p99),
                f"last task seen {statistics.median(m.tail):.0f} ms after the last POST; "
                f"worst send {max(m.late):.0f} ms behind schedule",
            ),
            Row("POST answered (202), p50", "ms", tuple(m.answer_p50)),
            Row("POST answered (202), p99", "ms", tuple(m.answer_p99)),
            Row("CPU per event at 100/s: API process", "ms", tuple(m.cpu_api)),
            Row(
                "CPU per event at 100/s: worker (main + pool)",
                "ms",
                tuple(m.cpu_worker),
            ),
            Row(
                "CPU per event at 100/s: PostgreSQL server processes",
                "ms",
                tuple(m.cpu_database),
                "those serving the API and worker",
            ),
            Row(
                f"events applied, backlog drained (concurrency {CONCURRENCY})",
                "events/s",
                tuple(m.applied),
            ),
            Row(
                f"no-op Celery task, backlog drained (concurrency {CONCURRENCY})",
                "tasks/s",
                tuple(m.noop),
            ),
            Row("events applied / no-op tasks", "%", tuple(share), "paired per drain"),
        ],
        targets=[
            Target(
                f"p99 POST to staff task visible <= {TARGET_P99_MS:.0f} ms at {RATE:.0f}/s",
                f"{p99:.0f} ms",
                p99 <= TARGET_P99_MS,
            ),
            Target(
                f"sustained rate >= {TARGET_SHARE:.0f}% of a no-op Celery task's",
                f"{sustained:.1f}%",
                sustained >= TARGET_SHARE,
            ),
        ],
    )
    memory = Section(
        MEMORY,
        "Peak resident set (VmHWM): section 3's worker at each start (backlog drains, then "
        "the steady runs) and its API at the end.",
        rows=[
            Row(
                "carepath worker (section 3), main process",
                "MiB",
                tuple(m.worker_main),
                f"one sample per start; max {max(m.worker_main):.0f}",
            ),
            Row(
                "carepath worker (section 3), largest pool child",
                "MiB",
                tuple(m.worker_child),
                f"one sample per start; max {max(m.worker_child):.0f}",
            ),
            Row("carepath api (section 3), uvicorn process", "MiB", tuple(m.api)),
        ],
    )
    return [section, memory]


def run(quick: bool) -> list[Section]:
    """Section 3, and its part of section 5."""
    size = QUICK if quick else FULL
    return with_services(TITLE, lambda: sections(size, measure(size)))
