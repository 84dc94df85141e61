"""Section 4, dashboard polling over PostgreSQL, and the API's peak memory for section 5.

What is measured: the real API (`api.app.create_app`, served by uvicorn[standard] in as many
processes as `carepath api` starts by default: the cores, at most 4) over a PostgreSQL database
of 100,000 enrollments and 1,000,000 staff tasks (quick mode: 10,000 and 100,000, unless the
full seed is already there), polled by 8 concurrent keep-alive clients in a closed loop (one
asyncio process; each client sends its next request when its answer is in). Each endpoint is
driven alone for a fixed time per round, and the rounds interleave the endpoints so that a
noisy neighbour hurts all of them alike; a last pass with 1 client gives the latency without
queueing:

- progress: `GET /enrollments/{id}` for random enrollments;
- bare: `GET /bench/enrollments/{id}/bare` (`bench/bare_app.py`), the same row by primary
  key through the same middleware, token check and session, without the engine's work;
- dashboard: `GET /dashboard`;
- 304: `GET /enrollments/{id}` with the If-None-Match of an earlier answer;
- queue: `GET /tasks?role=ROLE&limit=50` with a token of the busiest staff role.

The seed. The library (`definitions/`) is published into the database `carepath_bench_polling`
(schema by the migrations, so the indexes are the real ones) and a few hundred template
patients are enrolled and worked through carepath's own commands (each task completed
20% to 140% of the way to its due date, timers fired when due, some patients' staff idle for
days so that their work is overdue, some held, some withdrawn), so each pathway's `state`
JSON is what the engine writes. Patients, enrollments, pending timers and staff tasks are
then copied from the templates in SQL (`INSERT ... SELECT` over `generate_series`, foreign
keys consistent by construction) up to the target counts: templates with open work are
copied more often so that about 10% of the tasks are open, and closed tasks are sampled to
make the count exact. The tables are then vacuumed and analysed. Copies carry no event log,
fired timers, status history, outbox or audit rows: none of the polled endpoints reads
them. Seeding takes about 2 minutes at full size (30 s quick) on 2 cores.

The database is left in place so the next run reuses it (its comment records the sizes, the
schema revision and a hash of the library; anything different seeds afresh). To drop it:

    psql -h 127.0.0.1 -U postgres -c 'DROP DATABASE IF EXISTS carepath_bench_polling WITH (FORCE)'

`CAREPATH_BENCH_POSTGRES_URL` overrides the admin URL
(`postgresql+psycopg://postgres@127.0.0.1:5432/postgres`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, make_url, text
from sqlmodel import Session, select

from bench.results import Row, Section, Target, peak_rss_mib, percentile
from bench.services import children
from pathways.store.settings import Settings

if TYPE_CHECKING:
    from pathways.service.bus import Service
    from pathways.store.tables import StaffTask as StaffTaskRow

ROOT = Path(__file__).resolve().parent.parent
DEFINITIONS = ROOT / "definitions"
DATABASE = "carepath_bench_polling"
ADMIN_URL = os.environ.get(
    "CAREPATH_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
TITLE = "4. Dashboard polling: 8 clients over PostgreSQL"
MEMORY = "5. Memory: peak resident set"
CLIENTS = 8
SEED_FORMAT = 2  # bump when the way the seed is made changes: older seeds are made again
ACTOR = "bench.polling"

# The clinic's mix of pathways among the templates (copies lean to those with open work).
MIX: tuple[tuple[str, int], ...] = (
    ("chemotherapy", 5),
    ("radiation_conventional", 4),
    ("surgery", 3),
    ("radiation_sbrt", 2),
    ("multimodality_plan", 2),
    ("tumour_board", 2),
    ("surveillance_imaging", 1),
    ("clinical_trial_screening", 1),
)
# What staff usually record where the first enum value, the minimum or false would not be it.
USUAL_VALUES: dict[str, Any] = {
    "qa_passed": True,
    "eligible": True,
    "anc": 3200.0,
    "platelets": 210000.0,
    "haemoglobin": 128.0,
    "asa_class": 2,
    "ecog": 1,
    "sins_total": 9,
    "blood_loss_ml": 300,
    "pain_score": 3,
    "delivered_dose_gy": 8.0,
}


@dataclass(frozen=True)
class Size:
    """How big a seed is: enrollments (one patient each), staff tasks, templates worked."""

    enrollments: int
    tasks: int
    templates: int


FULL = Size(enrollments=100_000, tasks=1_000_000, templates=240)
QUICK = Size(enrollments=10_000, tasks=100_000, templates=64)


@dataclass(frozen=True)
class Seeded:
    """The seeded database: its URL, size, how long seeding took, and whether it was reused."""

    url: str
    size: Size
    seconds: float
    reused: bool
    detail: str  # the mix: open, overdue, statuses
    made: str  # how long the parts of a new seed took ("" when reused)


# --------------------------------------------------------------------------------------------
# Seeding


def bench_url() -> str:
    """The SQLAlchemy URL of the bench database (the admin URL with its database replaced)."""
    return make_url(ADMIN_URL).set(database=DATABASE).render_as_string(hide_password=False)


def _admin() -> Engine:
    """An autocommit engine on the server's admin database (CREATE/DROP DATABASE)."""
    return create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")


def _library_hash() -> str:
    """A short hash of every definition file's name and text."""
    digest = hashlib.sha256()
    for path in sorted(DEFINITIONS.rglob("*.yaml")):
        digest.update(str(path.relative_to(DEFINITIONS)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _schema_head() -> str:
    """The migrations' head revision(s), as `carepath migrate` would reach."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from pathways.store.database import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ",".join(sorted(ScriptDirectory.from_config(config).get_heads()))


def _fingerprint(size: Size) -> dict[str, Any]:
    """What a seed depends on: its format, the schema head, the library and the sizes."""
    return {
        "format": SEED_FORMAT,
        "schema": _schema_head(),
        "library": _library_hash(),
        "enrollments": size.enrollments,
        "tasks": size.tasks,
    }


def _stored_fingerprint(admin: Engine) -> dict[str, Any] | None:
    """The fingerprint in the bench database's comment (None: no database; {}: no comment)."""
    with admin.connect() as connection:
        found = connection.execute(
            text(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                "WHERE datname = :name"
            ),
            {"name": DATABASE},
        ).first()
    if found is None:
        return None
    try:
        stored = json.loads(found[0] or "{}")
    except ValueError:
        return {}
    return stored if isinstance(stored, dict) else {}


def _counts(url: str) -> tuple[int, int]:
    """How many enrollments and staff tasks the database holds."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            enrollments = connection.execute(text("SELECT count(*) FROM enrollment")).scalar_one()
            tasks = connection.execute(text("SELECT count(*) FROM staff_task")).scalar_one()
    finally:
        engine.dispose()
    return int(enrollments), int(tasks)


def _reusable(admin: Engine, quick: bool) -> Size | None:
    """The size of a seed already there that this run may use, or None."""
    stored = _stored_fingerprint(admin)
    if not stored:
        return None
    for size in (FULL, QUICK) if quick else (FULL,):
        wanted = _fingerprint(size)
        matches = all(stored.get(key) == value for key, value in wanted.items())
        if matches and _counts(bench_url()) == (size.enrollments, size.tasks):
            return size
    return None


def seed(quick: bool) -> Seeded:
    """The bench database, reused when it already holds a matching seed, else made afresh."""
    started = time.monotonic()
    admin = _admin()
    try:
        reusable = _reusable(admin, quick)
        if reusable is not None:
            seconds = time.monotonic() - started
            return Seeded(bench_url(), reusable, seconds, True, _describe(bench_url()), "")
        size = QUICK if quick else FULL
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
            connection.execute(text(f"CREATE DATABASE {DATABASE}"))
        made = _make(bench_url(), size)
        with admin.connect() as connection:
            comment = json.dumps(_fingerprint(size)).replace("'", "''")
            connection.execute(text(f"COMMENT ON DATABASE {DATABASE} IS '{comment}'"))
    finally:
        admin.dispose()
    seconds = time.monotonic() - started
    return Seeded(bench_url(), size, seconds, False, _describe(bench_url()), made)


def _make(url: str, size: Size) -> str:
    """Migrate, publish, work the templates through the engine's commands, then copy them in
    SQL; how long each part took."""
    from pathways.service.bus import Service
    from pathways.service.commands import PublishLibrary
    from pathways.service.context import fixed
    from pathways.store.database import database_engine, upgrade

    started = time.monotonic()
    upgrade(url)  # what `carepath migrate` does: the real tables and indexes
    engine = database_engine(url)
    try:
        now = datetime.now(UTC)
        carepath = Service.on(engine).at(fixed(now))  # each write sets its own moment
        carepath.handle(PublishLibrary(paths=(str(DEFINITIONS),), actor=ACTOR))
        templates = [_template(carepath, number, plan, now) for number, plan in _plans(size)]
        _escalate(carepath)
    finally:
        engine.dispose()
    worked = time.monotonic()
    _copy(url, templates, size)
    return (
        f"{size.templates} templates worked through the commands in "
        f"{worked - started:.0f} s, copied in SQL in {time.monotonic() - worked:.0f} s"
    )


@dataclass(frozen=True)
class Plan:
    """One template: its pathway, when it started, and what became of it."""

    pathway: str
    days_ago: float
    fate: str  # current, late (idle for days), on_hold, withdrawn
    idle_days: float = 0.0


def _plans(size: Size) -> Iterator[tuple[int, Plan]]:
    """Templates in the clinic's mix, started over the last year, most of them kept up to date."""
    rng = random.Random(4)
    cycle = [name for name, weight in MIX for _ in range(weight)]
    for number in range(size.templates):
        pathway = cycle[number % len(cycle)]
        days_ago = rng.uniform(0.5, 300)
        draw = rng.random()
        if draw < 0.70:
            yield number, Plan(pathway, days_ago, "current")
        elif draw < 0.86:
            yield number, Plan(pathway, days_ago, "late", rng.uniform(2, min(20, days_ago)))
        elif draw < 0.94:
            yield number, Plan(pathway, days_ago, "on_hold", min(1, days_ago))
        else:
            yield number, Plan(pathway, days_ago, "withdrawn", min(1, days_ago))


def _attributes(definition_patient: Mapping[str, Any], rng: random.Random) -> dict[str, Any]:
    """Patient attributes a pathway asks for at enrolment, varied per patient."""
    values = {
        "bilsky_grade": rng.choice(["0", "1a", "1b", "1c", "2", "3"]),
        "sins": rng.randint(0, 18),
        "radiosensitive": rng.random() < 0.3,
        "smoker": rng.random() < 0.2,
    }
    return {key: value for key, value in values.items() if key in definition_patient}


def _template(carepath: Service, number: int, plan: Plan, now: datetime) -> str:
    """Enrol one template patient and work the enrollment as the clinic would; its id."""
    from pathways.service.commands import Enrol, RegisterPatient
    from pathways.service.context import fixed
    from pathways.store.definitions import compiled
    from pathways.store.tables import PathwayDefinition

    start = now - timedelta(days=plan.days_ago)
    rng = random.Random(number)
    then = carepath.at(fixed(start))
    patient = then.handle(
        RegisterPatient(
            mrn=f"TPL-{number:05d}", display_name=f"Template patient {number}", actor=ACTOR
        )
    ).patient
    with carepath.unit_of_work() as uow:
        rows = uow.session.exec(
            select(PathwayDefinition).where(
                PathwayDefinition.kind == "pathway", PathwayDefinition.pathway == plan.pathway
            )
        )
        row = max(rows, key=lambda found: found.version)
        attributes = _attributes(compiled(uow.session, row).pathway.patient, rng)
    enrollment = then.handle(
        Enrol(
            patient_id=patient.id,
            pathway=plan.pathway,
            patient=attributes,
            idempotency_key=f"tpl:{number}",
            actor=ACTOR,
        )
    ).enrollment
    stop = now - timedelta(days=plan.idle_days)
    moment = _work(carepath, enrollment.id, start, stop, now)
    if plan.fate in ("on_hold", "withdrawn"):
        event_type = "hold" if plan.fate == "on_hold" else "withdraw"
        reason = "admitted for pain control" if event_type == "hold" else "moved away"
        from pathways.service.demo import record_and_apply

        data = {"reason": reason}
        record_and_apply(carepath, enrollment.id, event_type, data, max(moment, stop), ACTOR)
    return enrollment.id


def _work(
    carepath: Service, enrollment_id: str, start: datetime, staff_until: datetime, now: datetime
) -> datetime:
    """Work an enrollment as the clinic does: beat fires timers when due (up to now); staff
    complete the oldest open task some time before or after its due date (up to
    `staff_until`, earlier than now for staff who fell behind). The moment worked up to.

    Each event is applied at once, at its moment, by the service that recorded it: nobody
    else works this database (the fired timers' ids are collected instead of enqueued)."""
    from pathways.service.commands import ApplyEvents, CompleteTask, SkipTask
    from pathways.service.context import fixed
    from pathways.service.demo import fire_timers_at
    from pathways.store.sweeps import next_work

    moment = start
    for _ in range(1000):
        with carepath.unit_of_work() as uow:
            work = next_work(uow.session, enrollment_id)
        if work is None:
            break
        task, timer = work.task, work.timer
        done_at = _done_at(task, moment) if task is not None else None
        if done_at is not None and done_at > staff_until:
            done_at = None
        timer_at = max(moment, timer.due_at) if timer is not None else None
        if timer_at is not None and timer_at > now:
            timer_at = None
        if task is not None and done_at is not None and (timer_at is None or done_at <= timer_at):
            moment = done_at
            then = carepath.at(fixed(moment))
            data = _usual(work.definition, task)
            done = CompleteTask(task_id=task.id, data=data, actor="bench.staff")
            outcome = then.handle(ApplyEvents(event_id=then.handle(done).event_id))
            if outcome.outcome == "rejected":  # not the usual values: skip it, as staff would
                skipped = SkipTask(task_id=task.id, reason="not needed", actor="bench.staff")
                then.handle(ApplyEvents(event_id=then.handle(skipped).event_id))
        elif timer_at is not None:
            moment = timer_at
            fire_timers_at(carepath, moment)
        else:
            break
    return moment


def _done_at(task: StaffTaskRow, moment: datetime) -> datetime:
    """When staff complete a task: 20% to 140% of the way to its due date (at least 1 h)."""
    share = random.Random(task.id).uniform(0.2, 1.4)
    window = max(task.due_at - task.created_at, timedelta(hours=1))
    done: datetime = task.created_at + share * window
    return max(moment, done)


def _usual(definition: Any, task: Any) -> dict[str, Any]:
    """The values staff usually record for a task (its form found in the pinned definition)."""
    from pathways.model import Task

    fields: tuple[Any, ...] = ()
    pending = [definition]
    while pending:
        found = pending.pop()
        if found.key == task.pathway:
            step = found.steps.get(task.step)
            if isinstance(step, Task):
                fields = step.record
            break
        pending.extend(found.callees.values())
    from pathways.service.demo import usual_record

    return usual_record(fields, USUAL_VALUES, "as usual")


def _escalate(carepath: Service) -> None:
    """What beat does within a minute: report late work and flag its enrollments (a run
    escalates a batch: run again until none is left)."""
    from pathways.service.commands import EscalateOverdueTasks

    while carepath.handle(EscalateOverdueTasks()):
        pass


OPEN_STATUSES = "('ready', 'in-progress', 'on-hold')"
OPEN_SHARE = 0.10  # of all staff tasks, in a busy clinic (the issue's "~10% open")


def _columns(connection: Any, table: str) -> list[tuple[str, str]]:
    """A table's columns and their types, in order (whatever migrations have added)."""
    rows = connection.execute(
        text(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = :table ORDER BY ordinal_position"
        ),
        {"table": table},
    )
    return [(name, kind) for name, kind in rows]


def _select_list(
    columns: list[tuple[str, str]], alias: str, overrides: dict[str, str]
) -> tuple[str, str]:
    """The column list and the matching SELECT list of a copy (`overrides` by column)."""
    names = [f'"{name}"' for name, _ in columns]
    values = [overrides.get(name, f'{alias}."{name}"') for name, _ in columns]
    return ", ".join(names), ", ".join(values)


def _secondary_indexes(connection: Any, tables: tuple[str, ...]) -> list[tuple[str, str]]:
    """Indexes that back no constraint (the migrations' own), with their definitions."""
    rows = connection.execute(
        text(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = 'public' "
            "AND i.tablename = ANY(:tables) AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"
        ),
        {"tables": list(tables)},
    )
    return [(name, definition) for name, definition in rows]


def _copies(open_tasks: list[int], copies: int, wanted_open: int) -> list[int]:
    """How many copies of each template: weighted 1 + k * (its open tasks), k such that the
    copies hold about `wanted_open` open tasks (sequential pathways are mostly waiting, so
    an unweighted copy would leave a queue far emptier than the ~10% open of a busy clinic)."""

    def open_for(k: float) -> float:
        weights = [1 + k * found for found in open_tasks]
        return copies * sum(w * o for w, o in zip(weights, open_tasks, strict=True)) / sum(weights)

    low, high = 0.0, 1e6
    if open_for(high) <= wanted_open:
        low = high
    else:
        for _ in range(100):
            middle = (low + high) / 2
            low, high = (middle, high) if open_for(middle) < wanted_open else (low, middle)
    weights = [1 + low * found for found in open_tasks]
    shares = [copies * weight / sum(weights) for weight in weights]
    counts = [int(share) for share in shares]
    by_remainder = sorted(range(len(shares)), key=lambda i: counts[i] - shares[i])
    for index in by_remainder[: copies - sum(counts)]:
        counts[index] += 1
    return counts


def _copy(url: str, templates: list[str], size: Size) -> None:
    """Copy the templates in SQL up to the size: patients, enrollments, then staff tasks.

    Each copy is one template's patient, enrollment, pending timers and tasks under new ids,
    at the template's moments (so that rows agree with the `state` JSON they copy). Templates
    with open work are copied more often (`_copies`), all open tasks are copied, and completed
    and cancelled ones are sampled so that the total is exact. The migrations' secondary
    indexes are dropped for the load and made again from their own definitions; foreign-key
    triggers are off during the load (the keys are consistent by construction: every copy
    joins to a row inserted before it).
    """
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            _load(connection, templates, size)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE patient, enrollment, staff_task, timer"))
    finally:
        engine.dispose()


def _load(connection: Any, templates: list[str], size: Size) -> None:
    """The copy, in one transaction: plan the copies, drop the secondary indexes, insert
    patients, enrollments, timers and tasks, and make the indexes again."""
    run = connection.execute
    run(text("SET LOCAL session_replication_role = replica"))
    run(text("SET LOCAL maintenance_work_mem = '256MB'"))
    run(text("SET LOCAL synchronous_commit = off"))
    open_tasks = dict(
        run(
            text(
                "SELECT enrollment_id, count(*) FROM staff_task "
                f"WHERE status IN {OPEN_STATUSES} GROUP BY enrollment_id"
            )
        )
        .tuples()
        .all()
    )
    worked = run(text("SELECT count(*) FROM staff_task")).scalar_one()
    wanted_open = OPEN_SHARE * size.tasks - sum(open_tasks.values())
    counts = _copies(
        [open_tasks.get(found, 0) for found in templates],
        size.enrollments - len(templates),
        max(0, round(wanted_open)),
    )
    assert worked <= size.tasks
    run(
        text(
            "CREATE TEMP TABLE tpl (idx int PRIMARY KEY, enrollment_id text, patient_id text, "
            "copies int) ON COMMIT DROP"
        )
    )
    run(
        text(
            "INSERT INTO tpl SELECT t.idx - 1, e.id, e.patient_id, c.copies FROM "
            "unnest(CAST(:ids AS text[])) WITH ORDINALITY AS t(id, idx) "
            "JOIN unnest(CAST(:copies AS int[])) WITH ORDINALITY AS c(copies, idx) "
            "ON c.idx = t.idx JOIN enrollment e ON e.id = t.id"
        ),
        {"ids": templates, "copies": counts},
    )
    run(
        text(
            "CREATE TEMP TABLE copy_map ON COMMIT DROP AS SELECT "
            "row_number() OVER () - 1 AS g, t.idx, "
            "gen_random_uuid()::text AS patient_id, gen_random_uuid()::text AS enrollment_id "
            "FROM tpl t CROSS JOIN LATERAL generate_series(1, t.copies)"
        )
    )
    run(text("ANALYZE tpl"))
    run(text("ANALYZE copy_map"))
    indexes = _secondary_indexes(connection, ("patient", "enrollment", "staff_task", "timer"))
    for name, _ in indexes:
        run(text(f'DROP INDEX "{name}"'))
    copy = _copier(connection)
    copy(
        "patient",
        "p",
        {
            "id": "m.patient_id",
            "mrn": "'BENCH-' || lpad(m.g::text, 7, '0')",
            "display_name": "'Bench patient ' || m.g",
        },
        "p.id = t.patient_id",
    )
    copy(
        "enrollment",
        "e",
        {
            "id": "m.enrollment_id",
            "patient_id": "m.patient_id",
            "idempotency_key": "'copy:' || m.g",  # unique (uq_enrollment_key), as enrolled
        },
        "e.id = t.enrollment_id",
    )
    copy(
        "timer",
        "w",
        {"id": "m.enrollment_id || ':' || w.engine_timer", "enrollment_id": "m.enrollment_id"},
        "w.enrollment_id = t.enrollment_id",
        "w.fired_at IS NULL AND w.cancelled_at IS NULL",
    )
    _copy_tasks(connection, size)
    for _, definition in indexes:
        run(text(definition))


def _copier(connection: Any) -> Callable[..., None]:
    """Copy a table's template rows once per copy_map row, with some columns replaced."""

    def copy(
        table: str, alias: str, replaced: dict[str, str], joined: str, where: str = ""
    ) -> None:
        names, values = _select_list(_columns(connection, table), alias, replaced)
        connection.execute(
            text(
                f"INSERT INTO {table} ({names}) SELECT {values} FROM copy_map m "
                f"JOIN tpl t ON t.idx = m.idx JOIN {table} {alias} ON {joined}"
                + (f" WHERE {where}" if where else "")
            )
        )

    return copy


def _copy_tasks(connection: Any, size: Size) -> None:
    """Every open task of the copies, and a sample of their closed ones: exactly size.tasks."""
    run = connection.execute
    per_template = (
        f"SELECT t.idx, count(*) FILTER (WHERE s.status IN {OPEN_STATUSES}) AS open, "
        f"count(*) FILTER (WHERE s.status NOT IN {OPEN_STATUSES}) AS closed FROM tpl t "
        "JOIN staff_task s ON s.enrollment_id = t.enrollment_id GROUP BY t.idx"
    )
    already, open_copies, closed_copies = run(
        text(
            f"WITH per AS ({per_template}) SELECT "
            "(SELECT count(*) FROM staff_task), "
            "coalesce(sum(per.open), 0), coalesce(sum(per.closed), 0) "
            "FROM copy_map m JOIN per ON per.idx = m.idx"
        )
    ).one()
    wanted_closed = size.tasks - already - open_copies
    if wanted_closed < 0 or wanted_closed > closed_copies:
        raise RuntimeError(
            f"the templates cannot make {size.tasks:,} tasks: {already:,} worked, "
            f"{open_copies:,} open and {closed_copies:,} closed in the copies"
        )
    share = wanted_closed / closed_copies if closed_copies else 0.0
    names, values = _select_list(
        _columns(connection, "staff_task"),
        "s",
        {"id": "gen_random_uuid()::text", "enrollment_id": "m.enrollment_id"},
    )
    source = (
        "FROM copy_map m JOIN tpl t ON t.idx = m.idx "
        "JOIN staff_task s ON s.enrollment_id = t.enrollment_id"
    )
    run(
        text(
            f"INSERT INTO staff_task ({names}) SELECT {values} {source} "
            f"WHERE s.status IN {OPEN_STATUSES} OR random() < :share"
        ),
        {"share": share},
    )
    # The sample is a little off the exact count: top it up, or take a few closed ones out.
    missing = size.tasks - run(text("SELECT count(*) FROM staff_task")).scalar_one()
    if missing > 0:
        run(
            text(
                f"INSERT INTO staff_task ({names}) SELECT {values} {source} "
                f"WHERE s.status NOT IN {OPEN_STATUSES} AND NOT EXISTS (SELECT 1 FROM "
                "staff_task k WHERE k.enrollment_id = m.enrollment_id "
                "AND k.engine_task = s.engine_task) LIMIT :missing"
            ),
            {"missing": missing},
        )
    elif missing < 0:
        run(
            text(
                "DELETE FROM staff_task WHERE id IN (SELECT s.id FROM staff_task s "
                "JOIN copy_map m ON m.enrollment_id = s.enrollment_id "
                f"WHERE s.status NOT IN {OPEN_STATUSES} LIMIT :surplus)"
            ),
            {"surplus": -missing},
        )


def _describe(url: str) -> str:
    """The seed's mix in one sentence: statuses, open and overdue tasks."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            statuses: dict[str, int] = dict(
                connection.execute(text("SELECT status, count(*) FROM enrollment GROUP BY status"))
                .tuples()
                .all()
            )
            total, open_tasks, overdue = connection.execute(
                text(
                    f"SELECT count(*), count(*) FILTER (WHERE status IN {OPEN_STATUSES}), "
                    "count(*) FILTER (WHERE status IN ('ready', 'in-progress') "
                    "AND due_at < now()) FROM staff_task"
                )
            ).one()
    finally:
        engine.dispose()
    enrollments = sum(statuses.values())
    mix = ", ".join(
        f"{100 * count / enrollments:.0f}% {status}"
        for status, count in sorted(statuses.items(), key=lambda item: -item[1])
    )
    return (
        f"enrollments {mix}; tasks {100 * open_tasks / total:.1f}% open, "
        f"{100 * overdue / total:.1f}% overdue"
    )


# --------------------------------------------------------------------------------------------
# The server and the clients


def _free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def _server(
    url: str, admin_token: str, processes: int
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """uvicorn serving `bench.bare_app:create` in `processes` processes on a free port."""
    port = _free_port()
    log = open(os.devnull, "wb")  # noqa: SIM115  (closed in finally)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.bare_app:create",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--workers",
            str(processes),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={**os.environ, "CAREPATH_DATABASE_URL": url, "CAREPATH_ADMIN_TOKEN": admin_token},
        stdout=log,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                error = process.stderr.read().decode(errors="replace") if process.stderr else ""
                raise RuntimeError(f"the API did not start:\n{error[-2000:]}")
            try:
                status, _, _ = asyncio.run(_once(port, "GET /health HTTP/1.1\r\nHost: b\r\n\r\n"))
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the API did not answer /health within 60 s")
            time.sleep(0.2)
        yield port, process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(15)
        if process.stderr:
            process.stderr.close()
        log.close()


async def _read(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response: status, headers (lower-case names) and body."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            parts.append(await reader.readexactly(size + 2))
            if size == 0:
                break
        body = b"".join(part[:-2] for part in parts)
    else:
        body = b""
    return status, headers, body


async def _once(port: int, request: str) -> tuple[int, dict[str, str], bytes]:
    """One request on a connection of its own."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request.encode())
        return await _read(reader)
    finally:
        writer.close()


def _request(path: str, token: str, etag: str | None = None) -> bytes:
    """The bytes of a keep-alive GET with a bearer token (and If-None-Match)."""
    extra = f"If-None-Match: {etag}\r\n" if etag else ""
    return (
        f"GET {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n{extra}\r\n"
    ).encode()


@dataclass
class Endpoint:
    """One polled endpoint: how to make a request, and the status it should answer."""

    key: str
    label: str
    make: Callable[[random.Random], bytes]
    expect: int


@dataclass
class Round:
    """One timed run of one endpoint: latencies of the expected answers, rate, CPU used."""

    latencies: list[float] = field(default_factory=list)  # ms, expected status only
    answered: int = 0
    seconds: float = 0.0
    unexpected: Counter[int] = field(default_factory=Counter)
    api_cpu: float = 0.0  # seconds of the API process's CPU during the run
    db_cpu: float | None = None  # seconds of its PostgreSQL backends' CPU (None: unreadable)

    @property
    def rate(self) -> float:
        """Answers per second."""
        return self.answered / self.seconds if self.seconds else 0.0


async def _drive(
    port: int, endpoint: Endpoint, seconds: float, seed: int, clients: int = CLIENTS
) -> Round:
    """`clients` keep-alive connections in a closed loop: each sends its next request as soon
    as its answer is in, until `seconds` have passed (answers in flight then still count)."""
    result = Round()
    started = time.perf_counter()
    deadline = started + seconds

    async def client(number: int) -> None:
        rng = random.Random(seed * 100 + number)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while True:  # at least one request each, then until the deadline
                request = endpoint.make(rng)
                sent = time.perf_counter()
                writer.write(request)
                status, _, _ = await _read(reader)
                took = (time.perf_counter() - sent) * 1000
                result.answered += 1
                if status == endpoint.expect:
                    result.latencies.append(took)
                else:
                    result.unexpected[status] += 1
                if time.perf_counter() >= deadline:
                    break
        finally:
            writer.close()

    await asyncio.gather(*(client(number) for number in range(clients)))
    result.seconds = time.perf_counter() - started
    return result


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a live process (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:  # gone (FileNotFoundError, or ProcessLookupError while reading)
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Meter:
    """CPU used during a run by the API process and by its PostgreSQL backends.

    The backends are those connected to the bench database (pg_stat_activity), read from
    /proc: this works when PostgreSQL runs on this machine and its /proc is readable;
    otherwise the database's share is left out (None).
    """

    def __init__(self, api_pid: int, admin: Engine) -> None:
        self.api_pid = api_pid
        self.admin = admin
        self.api_before = 0.0
        self.db_before: dict[int, float] = {}

    def _backends(self) -> list[int]:
        """The pids of the backends connected to the bench database."""
        with self.admin.connect() as connection:
            return list(
                connection.execute(
                    text("SELECT pid FROM pg_stat_activity WHERE datname = :name"),
                    {"name": DATABASE},
                ).scalars()
            )

    def _readable(self, pids: list[int]) -> bool:
        """Whether this machine's /proc shows those backends."""
        return all(Path(f"/proc/{pid}/stat").exists() for pid in pids)

    def _api_cpu(self) -> float:
        """The API's CPU: its supervisor and every process serving requests."""
        return sum(_cpu_seconds(pid) for pid in (self.api_pid, *children(self.api_pid)))

    def start(self) -> None:
        """Take the counters before a run."""
        self.api_before = self._api_cpu()
        self.db_before = {pid: _cpu_seconds(pid) for pid in self._backends()}

    def stop(self, result: Round) -> None:
        """Put the CPU used since `start` into the run's result."""
        result.api_cpu = self._api_cpu() - self.api_before
        pids = self._backends()
        if pids and self._readable(pids):
            result.db_cpu = sum(_cpu_seconds(pid) - self.db_before.get(pid, 0.0) for pid in pids)


# --------------------------------------------------------------------------------------------
# The run


def _tokens(url: str) -> tuple[str, str, str, int]:
    """A dashboard token, the busiest staff role with its token, and its open tasks; the
    dashboard summary computed once, as the sweeper would have."""
    from pathways.service.bus import Service
    from pathways.service.commands import IssueToken, RefreshDashboardSummary
    from pathways.store.database import database_engine

    engine = database_engine(url)
    try:
        with Session(engine) as session:
            role, open_tasks = session.execute(
                text(
                    f"SELECT role, count(*) FROM staff_task WHERE status IN {OPEN_STATUSES} "
                    "GROUP BY role ORDER BY count(*) DESC, role LIMIT 1"
                )
            ).one()
        carepath = Service.on(engine)
        dashboard = carepath.handle(
            IssueToken(role="dashboard", holder="bench.ward-screen", actor=ACTOR)
        )
        staff = carepath.handle(IssueToken(role=role, holder=f"bench.{role}", actor=ACTOR))
        # What the summary sweep keeps fresh in a deployment: GET /dashboard reads this row
        # (without it every request would count the clinic live, as before the sweep).
        carepath.handle(RefreshDashboardSummary())
    finally:
        engine.dispose()
    return dashboard, role, staff, int(open_tasks)


def _enrollment_ids(url: str) -> list[str]:
    """Every enrollment id, for the clients to pick from at random."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(text("SELECT id FROM enrollment")).scalars())
    finally:
        engine.dispose()


async def _etags(port: int, ids: list[str], token: str) -> dict[str, str]:
    """The ETag of each enrollment's progress now, fetched over CLIENTS connections."""
    tags: dict[str, str] = {}
    pending = list(ids)

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while pending:
                enrollment_id = pending.pop()
                writer.write(_request(f"/enrollments/{enrollment_id}", token))
                status, headers, _ = await _read(reader)
                if status == 200 and "etag" in headers:
                    tags[enrollment_id] = headers["etag"]
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return tags


def _endpoints(
    ids: list[str], tags: dict[str, str], dashboard: str, role: str, staff: str
) -> list[Endpoint]:
    """The five polled endpoints, in the order each round drives them."""
    from bench.bare_app import BARE_PATH

    tagged = sorted(tags.items())
    queue = _request(f"/tasks?role={role}&limit=50", staff)
    board = _request("/dashboard", dashboard)

    def not_modified(rng: random.Random) -> bytes:
        enrollment_id, tag = rng.choice(tagged)
        return _request(f"/enrollments/{enrollment_id}", dashboard, tag)

    return [
        Endpoint(
            "progress",
            "progress GET /enrollments/{id}",
            lambda rng: _request(f"/enrollments/{rng.choice(ids)}", dashboard),
            200,
        ),
        Endpoint(
            "bare",
            "bare GET by primary key (bench route)",
            lambda rng: _request(BARE_PATH.format(enrollment_id=rng.choice(ids)), dashboard),
            200,
        ),
        Endpoint("dashboard", "GET /dashboard", lambda rng: board, 200),
        Endpoint("304", "304 GET /enrollments/{id} If-None-Match", not_modified, 304),
        Endpoint("queue", "role queue GET /tasks?role=&limit=50", lambda rng: queue, 200),
    ]


def _measure(
    port: int,
    endpoints: list[Endpoint],
    rounds: int,
    seconds: float,
    meter: Meter | None,
    clients: int = CLIENTS,
) -> dict[str, list[Round]]:
    """Each endpoint alone for `seconds`, round after round, the endpoints interleaved."""
    results: dict[str, list[Round]] = {endpoint.key: [] for endpoint in endpoints}
    for number in range(rounds):
        for endpoint in endpoints:
            if meter:
                meter.start()
            found = asyncio.run(_drive(port, endpoint, seconds, number + 1, clients))
            if meter:
                meter.stop(found)
            results[endpoint.key].append(found)
    return results


def _p(rounds: list[Round], p: float) -> tuple[float, ...]:
    """The p-th percentile latency of each round (NaN for a round with no expected answer)."""
    nan = float("nan")
    return tuple(percentile(found.latencies, p) if found.latencies else nan for found in rounds)


def _rows(endpoint: Endpoint, rounds: list[Round], alone: list[Round]) -> list[Row]:
    """Rate, p50 and p99 with 8 clients, and p99 with 1; CPU per request in the note."""
    answered = sum(found.answered for found in rounds)
    api = 1000 * sum(found.api_cpu for found in rounds) / max(answered, 1)
    note = f"per request: API CPU {api:.1f} ms"
    if all(found.db_cpu is not None for found in rounds):
        db = 1000 * sum(found.db_cpu or 0.0 for found in rounds) / max(answered, 1)
        note += f", PostgreSQL CPU {db:.1f} ms"
    unexpected = sum((found.unexpected for found in rounds), Counter())
    if unexpected:
        answers = ", ".join(f"{count:,} x {status}" for status, count in sorted(unexpected.items()))
        note += f"; {answers} of {answered:,} answers (expected {endpoint.expect})"
    return [
        Row(f"{endpoint.label}: rate", "req/s", tuple(found.rate for found in rounds), note),
        Row(f"{endpoint.label}: p50", "ms", _p(rounds, 50)),
        Row(f"{endpoint.label}: p99", "ms", _p(rounds, 99)),
        Row(
            f"{endpoint.label}: p99, 1 client",
            "ms",
            _p(alone, 99),
            f"p50 {statistics.median(_p(alone, 50)):.1f} ms",
        ),
    ]


def _p99(rounds: list[Round]) -> float:
    """The median over rounds of each round's p99, as the targets take it."""
    return statistics.median(_p(rounds, 99))


def run(quick: bool) -> list[Section]:
    """Seed (or reuse) the database, serve the API, poll it with 8 clients, and report."""
    seeded = seed(quick)
    rounds, seconds = (3, 2.5) if quick else (5, 20.0)
    alone_rounds, alone_seconds = (1, 2.0) if quick else (3, 5.0)
    dashboard, role, staff, open_tasks = _tokens(seeded.url)
    ids = _enrollment_ids(seeded.url)
    admin = _admin()
    processes = Settings().api_processes()
    try:
        with _server(seeded.url, secrets.token_urlsafe(24), processes) as (port, process):
            started_mib = _api_rss(process.pid)[0]
            sample = random.Random(8).sample(ids, min(len(ids), 400 if quick else 2000))
            tags = asyncio.run(_etags(port, sample, dashboard))
            endpoints = _endpoints(ids, tags, dashboard, role, staff)
            _measure(port, endpoints, 1, 0.0, None, 1)  # warm up: one request each
            client_cpu, client_wall = time.process_time(), time.monotonic()
            results = _measure(port, endpoints, rounds, seconds, Meter(process.pid, admin))
            client_share = (time.process_time() - client_cpu) / (time.monotonic() - client_wall)
            alone = _measure(port, endpoints, alone_rounds, alone_seconds, None, 1)
            api_mib, api_total_mib = _api_rss(process.pid)
    finally:
        admin.dispose()
    setup = (
        f"{seeded.size.enrollments:,} enrollments and {seeded.size.tasks:,} staff tasks in "
        f"PostgreSQL ({seeded.detail}); seed "
        + ("reused" if seeded.reused else f"made ({seeded.made})")
        + f" in {seeded.seconds:.0f} s. The API (uvicorn[standard], {processes} process(es) as "
        "`carepath api` starts by default, access log off) shares "
        f"the machine's {os.cpu_count()} cores with PostgreSQL and the load generator (one "
        f"asyncio process, {client_share:.0%} of a core). {CLIENTS} keep-alive clients in a "
        "closed loop (each sends its next request when its answer is in, so at saturation "
        f"latency is about {CLIENTS} / rate); each endpoint alone for {seconds:g} s per "
        f"round, {rounds} rounds interleaved, p50 and p99 per round; then 1 client, "
        f"{alone_rounds} x {alone_seconds:g} s. Random enrollments; dashboard token; the "
        f"role queue is the busiest staff role, {role} ({open_tasks:,} open tasks), with its "
        f"own token; the 304s ask for {len(tags):,} enrollments with the ETag of an earlier "
        "answer."
    )
    section = _section(setup, endpoints, results, alone)
    memory = Section(
        MEMORY,
        f"API: the uvicorn processes of section 4 (VmHWM after polling "
        f"{seeded.size.enrollments:,} enrollments).",
        [
            Row(
                "API process peak RSS (section 4 polling), the largest",
                "MiB",
                (api_mib,),
                f"{started_mib:.0f} MiB after start-up; all {processes} together "
                f"{api_total_mib:.0f} MiB",
            )
        ],
    )
    return [section, memory]


def _api_rss(pid: int) -> tuple[float, float]:
    """VmHWM of the largest API process serving requests, and of all of them, MiB."""
    serving = [peak_rss_mib(child) for child in children(pid)] or [peak_rss_mib(pid)]
    return max(serving), sum(serving)


def _section(
    setup: str,
    endpoints: list[Endpoint],
    results: dict[str, list[Round]],
    alone: dict[str, list[Round]],
) -> Section:
    """Section 4: every endpoint's rows, the progress/bare ratio and the issue's 5 targets."""
    section = Section(TITLE, setup)
    for endpoint in endpoints:
        section.rows += _rows(endpoint, results[endpoint.key], alone[endpoint.key])
    ratios = tuple(
        100 * progress.rate / bare.rate
        for progress, bare in zip(results["progress"], results["bare"], strict=True)
    )
    section.rows.append(Row("progress rate / bare rate (same round)", "%", ratios))
    cached = results["304"]
    not_modified = sum(len(found.latencies) for found in cached)
    answered = sum(found.answered for found in cached)
    progress_p99, board_p99 = _p99(results["progress"]), _p99(results["dashboard"])
    cached_p99, queue_p99 = _p99(cached), _p99(results["queue"])
    ratio = statistics.median(ratios)
    section.targets += [
        Target(
            "progress GET /enrollments/{id} p99 <= 20 ms",
            f"{progress_p99:.1f} ms",
            progress_p99 <= 20,
        ),
        Target("progress >= 70% of the bare GET-by-primary-key rate", f"{ratio:.0f}%", ratio >= 70),
        Target("GET /dashboard p99 <= 100 ms", f"{board_p99:.1f} ms", board_p99 <= 100),
        Target(
            "a 304 answer p99 <= 5 ms",
            f"{cached_p99:.1f} ms (and {100 * not_modified / max(answered, 1):.0f}% of "
            "If-None-Match polls answered 304)",
            cached_p99 <= 5,
        ),
        Target("role queue first page p99 <= 20 ms", f"{queue_p99:.1f} ms", queue_p99 <= 20),
    ]
    return section
