"""6. Scaling: events applied per second at 1, 2 and 4 events-worker processes.

Real processes, as the compose stack runs them: a private `redis-server` (no persistence,
`noeviction`), PostgreSQL (a database of our own) and Celery workers with one pool process
each (`--concurrency 1`, prefork), started once, twice or four times. No API and no beat:
the data is made through the store, as the API would make it, and nothing else competes
for the workers.

The workload is a backlog drain. Before each drain, N patients are enrolled on spine surgery
and the first of their pre-operative tasks (imaging, which records nothing) is completed
through the store: N enrollments, each with one recorded, unapplied `task_completed` event.
The drain queues N `carepath.apply_event` messages on one producer connection and times,
from the first message sent, (a) until every one of the N events is applied and (b) until
every message has been consumed (queue empty, none unacknowledged).

Two ways of running the same workers:

- *group commit* (as deployed): `carepath worker --queues events --concurrency 1`. Each job
  reads the events queue's length and, under a backlog, also applies the oldest ready
  events of up to 64 other enrollments in its commit (SKIP LOCKED), so most messages find
  their event already applied.
- *one event per job*: the same Celery app and task (`celery -A workers.celery_app worker`,
  the arguments `carepath worker` passes), with the messages on a queue the backlog probe
  does not read, so each job applies its own event alone: the worker as it runs when idle.

Rounds run the worker counts 1, 2, 4 and then 4, 2, 1 (a worker is started or stopped
between drains, and warmed with a few events), so the counts share the machine's
conditions; ratios to one worker are taken within a round. Where the time goes, per drain
(until the queue is empty): user + system CPU (/proc) of the worker processes (main and
pool child), of the bench database's PostgreSQL server processes, of this process
(producer, poller, sampler) and of the whole machine; and what those server processes were
doing, sampled from `pg_stat_activity` every 20 ms. Every drain checks that each of its
events was applied and none rejected.
"""

from __future__ import annotations

import os
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from celery import Celery
from redis import Redis
from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from bench.persisted import BrokenRun, with_services
from bench.results import Row, Section
from bench.services import (
    CAREPATH,
    Service,
    backends,
    children,
    cpu_seconds,
    grounds,
    wait_until,
)
from pathways.service import bus
from pathways.service.commands import CompleteTask, Enrol, RegisterPatient
from pathways.store.tables import StaffTask

TITLE = "6. Scaling: events applied at 1, 2 and 4 worker processes"
DATABASE = "carepath_bench_scaling"
WORKERS = (1, 2, 4)
PATHWAY, PATIENT, STEP = "surgery", {"smoker": False}, "preop_imaging"
WARM_UP_PER_WORKER = 3
SAMPLE_EVERY = 0.02  # s between pg_stat_activity samples and between the drain's polls
TASK = "carepath.apply_event"
GROUP, ALONE = "group commit", "one event per job"
QUEUE = {GROUP: "events", ALONE: "bench_events"}  # the backlog probe reads `events` only
WORKER_ARGS = ["--concurrency", "1", "--pool=prefork", "--without-gossip", "--without-mingle"]
COMMAND = {
    GROUP: [*CAREPATH, "worker", "--queues", "events", "--concurrency", "1"],
    ALONE: [
        *(sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker"),
        *("--loglevel=INFO", "--queues", QUEUE[ALONE], *WORKER_ARGS),
    ],
}
# A drain's events are the task completions between its first and last id (the enrolments
# recorded among them were applied at once).
OURS = (
    "SELECT count(*) FROM pathway_event WHERE id BETWEEN :low AND :high AND type = 'task_completed'"
)


@dataclass(frozen=True)
class Size:
    """How much one mode measures."""

    events: int  # enrollments, and events, per drain
    rounds: int  # each round drains every mode at every worker count


QUICK = Size(events=600, rounds=2)
FULL = Size(events=2000, rounds=3)


def recorded_completions(engine: Engine, count: int, label: str) -> list[int]:
    """`count` patients enrolled on surgery, each with its pre-operative imaging completed
    through the handlers (recorded, not applied: no worker is told): the events' ids."""
    writes = bus.Service.on(engine)
    event_ids = []
    for number in range(count):
        mrn = f"BENCH-SCALE-{label}-{number:05d}"
        name = f"Bench {label} {number}"
        patient = writes.handle(RegisterPatient(mrn=mrn, display_name=name, actor="bench"))
        enrolled = writes.handle(
            Enrol(
                patient_id=patient.patient.id,
                pathway=PATHWAY,
                patient=PATIENT,
                idempotency_key=f"scale:{mrn}",
                actor="bench",
            )
        )
        with Session(engine) as session:
            task_id = session.exec(
                select(StaffTask.id).where(
                    col(StaffTask.enrollment_id) == enrolled.enrollment.id,
                    col(StaffTask.step) == STEP,
                )
            ).one()
        event_ids.append(writes.handle(CompleteTask(task_id=task_id, actor="bench")).event_id)
    return event_ids


# --- the stack --------------------------------------------------------------------------------


@dataclass
class Stack:
    """Redis, the database and the running workers (all of one mode)."""

    engine: Engine
    env: dict[str, str]
    logs: Path
    broker: str
    exits: ExitStack
    mode: str = GROUP
    workers: list[Service] = field(default_factory=list)
    starts: int = 0

    def scale_to(self, count: int, mode: str) -> None:
        """Start or stop workers until `count` of `mode` run, each ready and warm."""
        if mode != self.mode:
            self.scale_to(0, self.mode)
            self.mode = mode
        while len(self.workers) > count:
            self.workers.pop().stop()
        fresh = []
        while len(self.workers) < count:
            self.starts += 1
            worker = Service(f"{self.starts:02d}-worker", COMMAND[mode], self.env, self.logs)
            self.exits.callback(worker.stop)
            self.workers.append(worker)
            fresh.append(worker)
        for worker in fresh:
            wait_until(partial(started, worker), 120, f"{worker.name} to be ready")
            if not worker.alive():
                raise BrokenRun(f"{worker.name} did not start:\n{worker.output()}")
        if fresh:
            warm = WARM_UP_PER_WORKER * count
            drain(self, recorded_completions(self.engine, warm, f"warm{self.starts}"))

    def pids(self) -> list[int]:
        """Every worker process: main and pool child."""
        return [pid for w in self.workers for pid in (w.pid, *children(w.pid))]

    def queue_idle(self, redis: Redis[bytes]) -> bool:
        """No message waiting or in flight (acks_late: in flight is 'unacked')."""
        return int(redis.llen(QUEUE[self.mode])) == 0 and int(redis.hlen("unacked")) == 0


def started(worker: Service) -> bool:
    """Whether a worker has said it is ready (or has stopped: no use waiting)."""
    return " ready." in worker.output() or not worker.alive()


@contextmanager
def stack() -> Iterator[Stack]:
    """Redis and a fresh database with the library published; all torn down on the way out."""
    with ExitStack() as exits:
        ready = grounds(exits, DATABASE, "carepath-bench-scaling-")
        yield Stack(ready.engine, ready.env, ready.logs, ready.broker, exits)


# --- one drain ------------------------------------------------------------------------------


class Sampler(threading.Thread):
    """Counts what the bench database's server processes are doing, every SAMPLE_EVERY."""

    def __init__(self, engine: Engine, poller: int) -> None:
        super().__init__(name="bench-wait-sampler", daemon=True)
        self.engine = engine
        self.poller = poller  # the drain's own server process, left out
        self.counts: Counter[str] = Counter()
        self.halt = threading.Event()
        self.failure: BaseException | None = None

    def run(self) -> None:
        query = text(
            "SELECT state, wait_event_type, wait_event FROM pg_stat_activity "
            "WHERE datname = :name AND pid <> pg_backend_pid() AND pid <> :poller "
            "AND backend_type = 'client backend'"
        )
        arguments = {"name": DATABASE, "poller": self.poller}
        try:
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                while not self.halt.is_set():
                    for state, kind, event in c.execute(query, arguments):
                        self.counts[activity(state, kind, event)] += 1
                    time.sleep(SAMPLE_EVERY)
        except BaseException as error:
            self.failure = error


def activity(state: str | None, kind: str | None, event: str | None) -> str:
    """A server process's sample in a few words: what it waits for, if anything."""
    if state == "active":
        return "running" if kind is None else f"{kind}:{event}"
    if state == "idle in transaction":
        return "in transaction, waiting for the worker"
    return "idle, waiting for the worker"


def machine_busy() -> tuple[float, float]:
    """(busy, all) jiffies of every core since boot, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return float(sum(fields) - idle), float(sum(fields))


@dataclass(frozen=True)
class Drain:
    """One backlog drained: its rates, the CPU used, and the server processes' samples."""

    applied: float  # events applied per second (until the last event was applied)
    consumed: float  # messages per second (until the queue was empty)
    worker_cpu: float  # ms per event, worker processes
    database_cpu: float  # ms per event, the bench database's server processes
    bench_cpu: float  # ms per event, this process
    machine_cores: float  # cores busy on the whole machine, mean over the drain
    own_cores: float  # cores the workers, their server processes and this process used
    commits: int  # commits that applied the drain's events
    samples: Counter[str]


def drain(built: Stack, event_ids: list[int]) -> Drain:
    """Queue one message per event; wait until every event is applied and the queue empty."""
    low, high = min(event_ids), max(event_ids)
    unapplied = text(f"{OURS} AND processed_at IS NULL")
    client = Celery("carepath-bench-scaling", broker=built.broker, set_as_current=False)
    client.conf.update(task_serializer="json", task_default_queue=QUEUE[built.mode])
    redis = Redis.from_url(built.broker)
    with built.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as poll:
        me = int(poll.execute(text("SELECT pg_backend_pid()")).scalar_one())
        sampler = Sampler(built.engine, me)
        workers = built.pids()
        watched = [os.getpid(), *workers, *backends(built.engine, DATABASE, me)]
        cpu, busy = cpu_seconds(watched), machine_busy()
        sampler.start()
        began = time.monotonic()
        try:
            with client.producer_or_acquire() as producer:
                for event_id in event_ids:
                    client.send_task(TASK, args=[event_id], producer=producer)
        finally:
            client.close()
        limit = 60 + len(event_ids) / 5

        def running() -> bool:
            return all(w.alive() for w in built.workers)

        def applied() -> bool:
            return int(poll.execute(unapplied, {"low": low, "high": high}).scalar_one()) == 0

        wait_until(lambda: applied() or not running(), limit, "the events", SAMPLE_EVERY)
        all_applied = time.monotonic() - began
        wait_until(lambda: built.queue_idle(redis) or not running(), limit, "the queue")
        all_consumed = time.monotonic() - began
    sampler.halt.set()
    sampler.join(5)
    used, busy_after = cpu_seconds(watched), machine_busy()
    redis.close()
    if not running():
        raise BrokenRun(f"a worker stopped during the drain:\n{built.workers[0].output()}")
    if sampler.failure is not None:
        raise BrokenRun(f"the pg_stat_activity sampler failed: {sampler.failure!r}")
    commits = check_applied(built.engine, low, high, len(event_ids))
    spent = {pid: used[pid] - cpu[pid] for pid in cpu if pid in used}
    per_event = 1000 / len(event_ids)
    database = set(spent) - set(workers) - {os.getpid()}
    return Drain(
        applied=len(event_ids) / all_applied,
        consumed=len(event_ids) / all_consumed,
        worker_cpu=per_event * sum(spent.get(pid, 0.0) for pid in workers),
        database_cpu=per_event * sum(spent[pid] for pid in database),
        bench_cpu=per_event * spent.get(os.getpid(), 0.0),
        machine_cores=(busy_after[0] - busy[0]) / (busy_after[1] - busy[1]) * (os.cpu_count() or 1),
        own_cores=sum(spent.values()) / all_consumed,
        commits=commits,
        samples=sampler.counts,
    )


def check_applied(engine: Engine, low: int, high: int, count: int) -> int:
    """Every event of the drain applied (not rejected): a broken run measures nothing.

    Returns how many commits applied them: a commit stamps its events with one `now`."""
    query = text(
        f"{OURS.replace('count(*)', 'count(*), count(DISTINCT processed_at)')} "
        "AND applied_at IS NOT NULL AND rejected_reason IS NULL"
    )
    with engine.connect() as connection:
        applied, commits = connection.execute(query, {"low": low, "high": high}).one()
    if applied != count:
        raise BrokenRun(f"{applied} of {count} events applied")
    return int(commits)


# --- the section ----------------------------------------------------------------------------

Drains = dict[tuple[str, int], list[Drain]]


def schedule(rounds: int) -> Iterator[tuple[int, str, int]]:
    """(round, mode, workers) in order: even rounds count up with group commit first, odd
    rounds count down with it last, so that drift in the machine's load evens out."""
    for number in range(rounds):
        even = number % 2 == 0
        for mode in (GROUP, ALONE) if even else (ALONE, GROUP):
            for count in WORKERS if even else tuple(reversed(WORKERS)):
                yield number, mode, count


def measure(size: Size) -> Drains:
    """Every drain, by mode and worker count, in round order."""
    drains: Drains = {(mode, count): [] for mode in (GROUP, ALONE) for count in WORKERS}
    with stack() as built:
        for number, mode, count in schedule(size.rounds):
            built.scale_to(count, mode)
            event_ids = recorded_completions(built.engine, size.events, f"{number}{mode}{count}")
            done = drain(built, event_ids)
            drains[mode, count].append(done)
            print(
                f"  round {number + 1}, {mode}, {plural(count)}: applied {done.applied:.0f}/s, "
                f"consumed {done.consumed:.0f}/s; CPU/event: workers {done.worker_cpu:.2f} ms, "
                f"PostgreSQL {done.database_cpu:.2f} ms, bench {done.bench_cpu:.2f} ms; "
                f"{done.commits} commits; cores busy: ours {done.own_cores:.2f}, machine "
                f"{done.machine_cores:.2f}; {shares(done.samples, 6)}",
                file=sys.stderr,
                flush=True,
            )
    return drains


def shares(samples: Counter[str], top: int) -> str:
    """The most frequent activities of the server processes, as shares of their samples."""
    total = sum(samples.values()) or 1
    return ", ".join(f"{what} {100 * n / total:.0f}%" for what, n in samples.most_common(top))


def plural(count: int) -> str:
    return f"{count} worker{'' if count == 1 else 's'}"


def rows(mode: str, drains: Drains) -> list[Row]:
    """One mode's rows: rates, ratios to one worker (paired per round), CPU per event."""
    found = []
    for count in WORKERS:
        done = drains[mode, count]
        consumed = statistics.median(d.consumed for d in done)
        cores = statistics.median(d.machine_cores for d in done)
        own = statistics.median(d.own_cores for d in done)
        commits = statistics.median(d.commits for d in done)
        found.append(
            Row(
                f"{mode}: events applied, {plural(count)}",
                "events/s",
                tuple(d.applied for d in done),
                f"{commits:.0f} commits applied them; all messages consumed at "
                f"{consumed:.0f}/s; cores busy: ours {own:.2f}, machine {cores:.2f}",
            )
        )
    one = drains[mode, 1]
    for count in WORKERS[1:]:
        paired = tuple(d.applied / o.applied for d, o in zip(drains[mode, count], one, strict=True))
        found.append(Row(f"{mode}: {plural(count)} / 1 worker", "x", paired, "paired per round"))
    for count in WORKERS:
        done = drains[mode, count]
        merged: Counter[str] = sum((d.samples for d in done), Counter())
        workers = statistics.median(d.worker_cpu for d in done)
        database = statistics.median(d.database_cpu for d in done)
        bench = statistics.median(d.bench_cpu for d in done)
        found.append(
            Row(
                f"{mode}: CPU per event, workers + PostgreSQL, {plural(count)}",
                "ms",
                tuple(d.worker_cpu + d.database_cpu for d in done),
                f"workers {workers:.2f}, PostgreSQL {database:.2f} (bench process {bench:.2f}); "
                f"server processes: {shares(merged, 4)}",
            )
        )
    return found


def sections(size: Size, drains: Drains) -> list[Section]:
    """Section 6."""
    setup = (
        f"PostgreSQL (database {DATABASE}), a private redis-server and 1, 2 or 4 Celery "
        "workers of one pool process each (prefork, `--concurrency 1`) on this machine's "
        f"{os.cpu_count()} cores, with the bench process; no API, no beat. Each drain: "
        f"{size.events} spine-surgery enrollments, each with its pre-operative imaging task "
        "completed through the store (recorded, unapplied), and one message per event queued "
        "on one producer connection; rate = events / time from the first message sent to the "
        "last event applied (polled every 20 ms). Group commit: `carepath worker --queues "
        "events`, as deployed; one event per job: the same app and task on a queue the "
        f"backlog probe does not read. {size.rounds} rounds, each mode at 1, 2, 4 and 4, 2, 1 "
        "workers (warmed before each drain); ratios paired per round. CPU: user + system "
        "(/proc) until the queue was empty, per event; cores busy: ours = the workers, their "
        "server processes and the bench process, machine = every process (/proc/stat), the "
        "other users of this shared machine included; commits = distinct processed_at of the "
        "drain's events; server processes' activity sampled from pg_stat_activity every 20 ms."
    )
    return [Section(TITLE, setup, rows=rows(GROUP, drains) + rows(ALONE, drains))]


def run(quick: bool) -> list[Section]:
    """Section 6."""
    size = QUICK if quick else FULL
    return with_services(TITLE, lambda: sections(size, measure(size)))
