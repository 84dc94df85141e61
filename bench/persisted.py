"""2. Persisted: events applied per second through the service layer, against raw commits.

The ceiling is the raw single-row commit rate: a loop of `INSERT one row; COMMIT` into a
trivial table (`bench_commit`), on an engine made by `database_engine` (so SQLite begins
`IMMEDIATE` in WAL mode and PostgreSQL uses psycopg with pre-ping, as the store does).

The workload is real chemotherapy work: each enrollment gets the eight task completions
that take it from enrolment through the baseline work-up, consent and cycle 1 (pre-cycle
labs with normal counts, pharmacy verification, infusion) to the cycle's rest timer. The
script of completions (engine task ids, recorded counts) comes from running the engine in
memory once, so every event is one the engine accepts. Before each timed run, fresh
enrollments are enrolled and their events recorded (untimed); the run then applies them
with the `ApplyEvents` handler (a unit of work around `apply_events`: lock, step, write, one
commit), the same call a Celery worker makes. Every run checks that each event was applied
(none rejected, none already processed): a benchmark of a broken run is worthless.

One process or two: helpers are spawned once per database (multiprocessing `spawn`, each
with its own engine, warmed with a connection and the compiled definition), and a run is
timed from a common start instant to the last helper's end. Two processes split the
enrollments between them, so neither waits on the other's rows (on SQLite they still share
the one database write lock). Raw commits and applied events alternate within each repeat,
so each ratio compares figures taken under the same machine conditions.
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from multiprocessing import get_context
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    func,
    text,
)
from sqlmodel import Session, col, select

from bench.results import Row, Section, Target
from pathways.runtime.definition import Definition
from pathways.runtime.effects import CancelTask, CreateTask
from pathways.runtime.engine import start, step
from pathways.runtime.events import Enrolled, TaskCompleted
from pathways.service.bus import Service
from pathways.service.commands import (
    ApplyEvents,
    Enrol,
    PublishLibrary,
    RecordEvent,
    RegisterPatient,
)
from pathways.service.context import system_clock
from pathways.store.database import database_engine, upgrade
from pathways.store.definitions import compiled
from pathways.store.tables import PathwayDefinition, PathwayEvent

TITLE = "2. Persisted: events applied per second through the service layer"
ROOT = Path(__file__).resolve().parent.parent
DEFINITIONS = ROOT / "definitions"
ADMIN_URL = os.environ.get(
    "CAREPATH_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
DATABASE = "carepath_bench_persisted"
PATHWAY = "chemotherapy"
COUNTS = {"anc": 2300, "platelets": 210000}  # normal counts: the cycle goes ahead
SCRIPT_LENGTH = 8  # enrolment -> cycle 1's rest timer: every task the first cycle opens
TARGET_RATIO = 50.0  # applied events >= 50% of the raw commit rate
START_DELAY = 0.3  # s between sending a run to the helpers and its common start
PROCESSES = (1, 2)

COMMITS = Table(
    "bench_commit",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("note", String(40), nullable=False),
)


@dataclass(frozen=True)
class Size:
    """How much one mode measures."""

    commits: int  # raw commits per run (split between the processes)
    enrollments: int  # enrollments per apply run (SCRIPT_LENGTH events each)
    repeats: int
    backlog: int  # enrollments queued at once for the group-commit run (SCRIPT_LENGTH each)


QUICK = Size(commits=800, enrollments=30, repeats=3, backlog=60)
FULL = Size(commits=5000, enrollments=250, repeats=5, backlog=1250)  # 10,000 events queued
BACKLOG_TARGET = 150.0  # applied events with a backlog >= 150% of the raw commit rate


class BrokenRun(RuntimeError):
    """A benchmark run that did not do the workload: its timings would mean nothing."""


# --- the helper processes -------------------------------------------------------------


def _serve(connection: Connection) -> None:
    """A helper's loop: run each (job, arguments) sent, answer ('ok', result) or ('error', ..)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us, even on Ctrl-C
    engines: dict[str, Engine] = {}
    try:
        while True:
            try:
                message = connection.recv()
            except EOFError:  # the parent is gone
                return
            if message is None:
                return
            name, arguments = message
            try:
                connection.send(("ok", JOBS[name](engines, *arguments)))
            except Exception:
                connection.send(("error", traceback.format_exc()))
    finally:
        for engine in engines.values():
            engine.dispose()


def _engine(engines: dict[str, Engine], url: str) -> Engine:
    if url not in engines:
        engines[url] = database_engine(url)
    return engines[url]


def _warm(engines: dict[str, Engine], url: str) -> int:
    """Open a connection and compile the pathway, so that no run pays for either."""
    engine = _engine(engines, url)
    with Session(engine) as session:
        compiled(session, _definition_row(session))
    return os.getpid()


def _wait_for(start_at: float) -> None:
    delay = start_at - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def _commit_rows(
    engines: dict[str, Engine], url: str, count: int, start_at: float
) -> tuple[float, float, int, float]:
    """`INSERT one row; COMMIT`, `count` times: (started, ended, rows, CPU seconds)."""
    engine = _engine(engines, url)
    statement = COMMITS.insert().values(note="raw single-row commit")
    _wait_for(start_at)
    began, cpu = time.monotonic(), time.process_time()
    for _ in range(count):
        with engine.begin() as connection:
            connection.execute(statement)
    return began, time.monotonic(), count, time.process_time() - cpu


def _apply_events(
    engines: dict[str, Engine], url: str, event_ids: list[int], start_at: float
) -> tuple[float, float, dict[str, int], float]:
    """Apply each event as a worker does: (started, ended, outcomes counted, CPU seconds)."""
    engine = _engine(engines, url)
    outcomes: Counter[str] = Counter()
    _wait_for(start_at)
    began, cpu = time.monotonic(), time.process_time()
    service = Service.on(engine)
    for event_id in event_ids:
        outcomes[service.handle(ApplyEvents(event_id=event_id)).outcome] += 1
    return began, time.monotonic(), dict(outcomes), time.process_time() - cpu


def _apply_backlog(
    engines: dict[str, Engine], url: str, event_ids: list[int], start_at: float
) -> tuple[float, float, dict[str, int], float]:
    """Drain a queue of events as a worker does under a backlog: each call is told how many
    messages wait behind it, so it applies other enrollments' ready events in the same
    commit (group commit) and later messages find their events already applied."""
    engine = _engine(engines, url)
    outcomes: Counter[str] = Counter()
    _wait_for(start_at)
    began, cpu = time.monotonic(), time.process_time()
    service = Service.on(engine)
    for index, event_id in enumerate(event_ids):
        backlog = len(event_ids) - index - 1
        outcomes[service.handle(ApplyEvents(event_id=event_id, backlog=backlog)).outcome] += 1
    return began, time.monotonic(), dict(outcomes), time.process_time() - cpu


def _dispose(engines: dict[str, Engine], url: str) -> None:
    """Close this helper's connections to a database that is about to go."""
    engine = engines.pop(url, None)
    if engine is not None:
        engine.dispose()


JOBS: dict[str, Callable[..., Any]] = {
    "dispose": _dispose,
    "warm": _warm,
    "commit_rows": _commit_rows,
    "apply_events": _apply_events,
    "apply_backlog": _apply_backlog,
}


class Helpers:
    """Spawned processes that run jobs on request, each with its own engines."""

    def __init__(self, count: int) -> None:
        context = get_context("spawn")
        self.links: list[tuple[BaseProcess, Connection]] = []
        for number in range(count):
            ours, theirs = context.Pipe()
            process = context.Process(
                target=_serve, args=(theirs,), name=f"bench-persisted-{number}", daemon=True
            )
            process.start()
            theirs.close()
            self.links.append((process, ours))

    def run(self, jobs_: list[tuple[str, tuple[Any, ...]]]) -> list[Any]:
        """Send one job to each of the first len(jobs_) helpers; their results, in order."""
        for (_, connection), job in zip(self.links, jobs_, strict=False):
            connection.send(job)
        results = []
        for _, connection in self.links[: len(jobs_)]:
            status, result = connection.recv()
            if status != "ok":
                raise BrokenRun(f"a helper process failed:\n{result}")
            results.append(result)
        return results

    def stop(self) -> None:
        """Ask each helper to stop; terminate any that does not."""
        links, self.links = self.links, []
        for process, connection in links:
            with suppress(OSError):
                connection.send(None)
            process.join(5)
            if process.is_alive():
                process.terminate()
                process.join(5)
            connection.close()


# --- databases and workload ---------------------------------------------------------------


def _definition_row(session: Session) -> PathwayDefinition:
    rows = session.exec(
        select(PathwayDefinition).where(
            PathwayDefinition.kind == "pathway", PathwayDefinition.pathway == PATHWAY
        )
    ).all()
    if not rows:
        raise BrokenRun(f"'{PATHWAY}' is not published")
    return max(rows, key=lambda row: row.version)


def script(definition: Definition) -> list[tuple[str, dict[str, Any]]]:
    """The task completions (engine task id, recorded data) of one enrollment, in order.

    Runs the engine in memory: complete the oldest open task, recording normal counts
    where the form asks for them, until SCRIPT_LENGTH tasks are done.
    """
    now = system_clock()
    state, effects = start(definition, Enrolled({}, {}), now)
    open_tasks: dict[str, CreateTask] = {}
    completions: list[tuple[str, dict[str, Any]]] = []
    while True:
        for effect in effects:
            if isinstance(effect, CreateTask):
                open_tasks[effect.task] = effect
            elif isinstance(effect, CancelTask):
                open_tasks.pop(effect.task, None)
        if len(completions) == SCRIPT_LENGTH or not open_tasks:
            break
        task = next(iter(open_tasks.values()))
        data = {name: COUNTS[name] for name in task.record}
        state, effects = step(definition, state, TaskCompleted(task.task, data), now)
        del open_tasks[task.task]
        completions.append((task.task, data))
    if len(completions) != SCRIPT_LENGTH:
        raise BrokenRun(f"{PATHWAY}: only {len(completions)} tasks before the first wait")
    return completions


def prepare(
    engine: Engine, completions: list[tuple[str, dict[str, Any]]], count: int, batch: str
) -> list[list[int]]:
    """Enrol `count` patients and record their completions through the handlers, unapplied
    (no worker is told): event ids per enrollment."""
    writes = Service.on(engine)
    per_enrollment = []
    for number in range(count):
        mrn = f"BENCH-{batch}-{number:05d}"
        patient = writes.handle(
            RegisterPatient(mrn=mrn, display_name=f"Bench {number}", actor="bench")
        )
        enrollment = writes.handle(
            Enrol(
                patient_id=patient.patient.id,
                pathway=PATHWAY,
                idempotency_key=f"bench:{mrn}",
                actor="bench",
            )
        ).enrollment
        event_ids = []
        for task, data in completions:
            accepted = writes.handle(
                RecordEvent(
                    enrollment_id=enrollment.id,
                    type="task_completed",
                    data={"task": task, "data": data},
                    idempotency_key=f"bench:{task}",
                    actor="nurse.bench",
                    from_person=False,
                )
            )
            if not accepted.created:
                raise BrokenRun(f"event for {task} of {enrollment.id} not recorded")
            event_ids.append(accepted.event_id)
        per_enrollment.append(event_ids)
    return per_enrollment


def split(per_enrollment: list[list[int]], processes: int) -> list[list[int]]:
    """Enrollments dealt out to the processes; each one's events interleaved, in order."""
    shares = []
    for number in range(processes):
        mine = per_enrollment[number::processes]
        shares.append([ids[k] for k in range(SCRIPT_LENGTH) for ids in mine])
    return shares


@contextmanager
def sqlite_database() -> Iterator[str]:
    """A SQLite file in a temporary directory, removed afterwards."""
    directory = tempfile.mkdtemp(prefix="carepath-bench-persisted-")
    try:
        yield f"sqlite:///{directory}/bench.db"
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def postgres_database(name: str = DATABASE) -> Iterator[str]:
    """A fresh PostgreSQL database `name` on the admin server, dropped afterwards."""
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield admin.url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def postgres_problem() -> str | None:
    """Why the PostgreSQL server cannot be used, or None."""
    admin = create_engine(ADMIN_URL, connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:
        return f"{type(error).__name__}: {str(error).splitlines()[0]}"
    finally:
        admin.dispose()
    return None


def with_services(title: str, measured: Callable[[], list[Section]]) -> list[Section]:
    """`measured()` when PostgreSQL and a private redis-server can be had here; otherwise
    the section, saying why it was not measured."""
    problem = postgres_problem()
    if problem is None and shutil.which("redis-server") is None:
        problem = "redis-server is not installed"
    if problem is not None:
        return [Section(title, f"Not measured: {problem}.")]
    return measured()


# --- the measurement ---------------------------------------------------------------------


@dataclass
class Figures:
    """The samples of one database: rates per process count, and paired ratios."""

    raw: dict[int, list[float]]
    applied: dict[int, list[float]]
    ratio: dict[int, list[float]]
    cpu_commit: list[float]  # ms of the helper's CPU per raw commit, 1 process
    cpu_event: list[float]  # ms of the helper's CPU per applied event, 1 process
    backlog: list[float]  # events/s draining a backlog (group commit), 1 process
    backlog_ratio: list[float]  # that, in % of the same repeat's raw commits


def _timed(results: list[tuple[float, float, Any, float]], total: int) -> float:
    """Items per second from a common start to the last helper's end."""
    began = min(result[0] for result in results)
    ended = max(result[1] for result in results)
    return total / (ended - began)


def measure(url: str, helpers: Helpers, size: Size, label: str) -> Figures:
    """Raw commits and applied events, 1 and 2 processes, `size.repeats` times."""
    upgrade(url)
    engine = database_engine(url)
    figures = Figures(
        raw={n: [] for n in PROCESSES},
        applied={n: [] for n in PROCESSES},
        ratio={n: [] for n in PROCESSES},
        cpu_commit=[],
        cpu_event=[],
        backlog=[],
        backlog_ratio=[],
    )
    try:
        Service.on(engine).handle(PublishLibrary(paths=(str(DEFINITIONS),), actor="bench"))
        with Session(engine) as session:
            completions = script(compiled(session, _definition_row(session)))
        COMMITS.create(engine)
        helpers.run([("warm", (url,))] * len(helpers.links))
        for repeat in range(size.repeats):
            for processes in PROCESSES:
                start_at = time.monotonic() + START_DELAY
                share = size.commits // processes
                results = helpers.run([("commit_rows", (url, share, start_at))] * processes)
                raw = _timed(results, share * processes)
                if processes == 1:
                    figures.cpu_commit.append(1000 * results[0][3] / share)
                events = prepare(
                    engine, completions, size.enrollments, f"{label}{repeat}x{processes}"
                )
                total = sum(len(ids) for ids in events)
                start_at = time.monotonic() + START_DELAY
                results = helpers.run(
                    [("apply_events", (url, ids, start_at)) for ids in split(events, processes)]
                )
                outcomes: Counter[str] = Counter()
                for result in results:
                    outcomes.update(result[2])
                if outcomes != Counter({"applied": total}):
                    raise BrokenRun(f"{label}: {total} events gave {dict(outcomes)}")
                applied = _timed(results, total)
                if processes == 1:
                    figures.cpu_event.append(1000 * results[0][3] / total)
                figures.raw[processes].append(raw)
                figures.applied[processes].append(applied)
                figures.ratio[processes].append(100 * applied / raw)
                if processes == 1:
                    drained = _drain_backlog(
                        engine, helpers, completions, size, f"{label}{repeat}b"
                    )
                    figures.backlog.append(drained)
                    figures.backlog_ratio.append(100 * drained / raw)
    finally:
        engine.dispose()
        with suppress(BrokenRun, OSError, EOFError):
            helpers.run([("dispose", (url,))] * len(helpers.links))
    return figures


def _drain_backlog(
    engine: Engine,
    helpers: Helpers,
    completions: list[tuple[str, dict[str, Any]]],
    size: Size,
    label: str,
) -> float:
    """Events/s of one process draining `size.backlog` enrollments' events queued at once."""
    events = prepare(engine, completions, size.backlog, label)
    ids = split(events, 1)[0]
    start_at = time.monotonic() + START_DELAY
    results = helpers.run([("apply_backlog", (engine.url.render_as_string(False), ids, start_at))])
    with Session(engine) as session:
        applied = session.exec(
            select(func.count())
            .select_from(PathwayEvent)
            .where(col(PathwayEvent.id).in_(ids), col(PathwayEvent.applied_seq).is_not(None))
        ).one()
    if applied != len(ids):
        raise BrokenRun(f"{label}: {len(ids)} queued events, {applied} applied: {results[0][2]}")
    return _timed(results, len(ids))


def rows_and_targets(name: str, figures: Figures) -> tuple[list[Row], list[Target]]:
    """The rows and targets of one database's figures."""
    rows: list[Row] = []
    targets: list[Target] = []
    for processes in PROCESSES:
        plural = "process" if processes == 1 else "processes"
        ratio = statistics.median(figures.ratio[processes])
        rows += [
            Row(
                f"{name}: raw single-row commits, {processes} {plural}",
                "commits/s",
                tuple(figures.raw[processes]),
            ),
            Row(
                f"{name}: events applied, {processes} {plural}",
                "events/s",
                tuple(figures.applied[processes]),
                f"{ratio:.1f}% of raw commits (paired per repeat)",
            ),
            Row(
                f"{name}: applied / raw commits, {processes} {plural}",
                "%",
                tuple(figures.ratio[processes]),
            ),
        ]
        if processes == 1:
            backlog_ratio = statistics.median(figures.backlog_ratio)
            rows += [
                Row(
                    f"{name}: events applied draining a backlog, 1 process",
                    "events/s",
                    tuple(figures.backlog),
                    "group commit: up to 64 enrollments' ready events per commit",
                ),
                Row(
                    f"{name}: backlog applied / raw commits, 1 process",
                    "%",
                    tuple(figures.backlog_ratio),
                ),
                Row(f"{name}: CPU per raw commit, 1 process", "ms", tuple(figures.cpu_commit)),
                Row(
                    f"{name}: CPU per applied event, 1 process",
                    "ms",
                    tuple(figures.cpu_event),
                    "the applying process only (not the database server)",
                ),
            ]
        targets.append(
            Target(
                f"{name}, {processes} {plural}: events applied >= {TARGET_RATIO:.0f}% "
                "of the raw commit rate",
                f"{ratio:.1f}%",
                ratio >= TARGET_RATIO,
            )
        )
    backlog_ratio = statistics.median(figures.backlog_ratio)
    targets.append(
        Target(
            f"{name}, 1 process, draining a backlog: events applied >= {BACKLOG_TARGET:.0f}% "
            "of the raw commit rate",
            f"{backlog_ratio:.1f}%",
            backlog_ratio >= BACKLOG_TARGET,
        )
    )
    return rows, targets


def run(quick: bool) -> list[Section]:
    """Section 2: SQLite and PostgreSQL, one and two processes."""
    size = QUICK if quick else FULL
    section = Section(
        TITLE,
        f"Chemotherapy task completions ({SCRIPT_LENGTH} per enrollment: baseline, consent, "
        f"cycle 1), {size.enrollments * SCRIPT_LENGTH} events per run applied with "
        "the `ApplyEvents` handler (the worker's call), against `INSERT one row; COMMIT` "
        f"({size.commits} per run); {size.repeats} repeats; spawned processes with their "
        "own engines; SQLite (WAL, file in a temp dir) and PostgreSQL "
        f"({ADMIN_URL.rsplit('@', 1)[-1].split('/')[0]}, database {DATABASE}).",
    )
    helpers = Helpers(max(PROCESSES))
    try:
        with sqlite_database() as url:
            rows, targets = rows_and_targets("SQLite", measure(url, helpers, size, "s"))
        section.rows += rows
        section.targets += targets
        problem = postgres_problem()
        if problem is not None:
            section.setup += f" PostgreSQL not measured: {problem}."
        else:
            with postgres_database() as url:
                rows, targets = rows_and_targets("PostgreSQL", measure(url, helpers, size, "p"))
            section.rows += rows
            section.targets += targets
    finally:
        helpers.stop()
    return [section]
