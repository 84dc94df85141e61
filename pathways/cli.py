"""The `carepath` command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, time
from pathlib import Path
from typing import Any

import click

from pathways.diagram import mermaid
from pathways.gantt import draw
from pathways.library import Library, load
from pathways.machine import compile_pathway
from pathways.model import Field
from pathways.runtime.definition import load_definition
from pathways.runtime.events import EventRejected
from pathways.runtime.scenario import Scenario, ScenarioError, scenario_from
from pathways.runtime.simulation import simulate as run_simulation
from pathways.runtime.timeline import render_timeline
from pathways.schema import pathway_schema
from pathways.yamlsource import Scalar, YamlSyntaxError, parse, to_plain

DEFAULT_LIBRARY = Path("definitions")


def _context(library_dir: str | None) -> list[str]:
    if library_dir:
        return [library_dir]
    return [str(DEFAULT_LIBRARY)] if DEFAULT_LIBRARY.is_dir() else []


def _report(library: Library) -> int:
    problems = library.report()
    for problem in problems:
        click.echo(problem.render())
    files = len(library.files)
    with_problems = len({problem.file for problem in problems})
    if problems:
        click.echo(f"{len(problems)} problem(s) in {with_problems} of {files} file(s)", err=True)
        return 1
    click.echo(f"checked {files} file(s): no problems", err=True)
    return 0


@click.group()
def cli() -> None:
    """carepath: care pathways for spinal-cancer treatment."""


_library_option = click.option(
    "--library",
    "library_dir",
    metavar="DIR",
    help="Definitions used to resolve calls and calendars (default: ./definitions).",
)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@_library_option
def validate(paths: tuple[str, ...], library_dir: str | None) -> None:
    """Check pathway and calendar files; report every problem; exit 1 on any."""
    sys.exit(_report(load(paths, _context(library_dir))))


@cli.command()
def schema() -> None:
    """Print the JSON Schema of the pathway language (for editors)."""
    click.echo(json.dumps(pathway_schema(), indent=2))


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@_library_option
def diagram(file: str, library_dir: str | None) -> None:
    """Print a pathway's state machine as a Mermaid flowchart."""
    library = load([file], _context(library_dir))
    problems = library.report()
    pathways = [p for p in library.pathways.values() if p.file == file]
    if problems or not pathways:
        sys.exit(_report(library) or 1)
    click.echo(mermaid(compile_pathway(pathways[0])), nl=False)


@cli.command(name="library")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
def show_library(paths: tuple[str, ...]) -> None:
    """List the pathways and calendars of a library, with the size of each machine."""
    library = load(paths or [str(DEFAULT_LIBRARY)])
    click.echo(f"{'pathway':28} {'v':>2}  {'modality':15} {'steps':>5} {'states':>6} {'moves':>5}")
    for key in sorted(library.pathways):
        pathway = library.pathways[key]
        machine = compile_pathway(pathway)
        click.echo(
            f"{pathway.id:28} {pathway.version:>2}  {pathway.modality:15} "
            f"{len(list(pathway.walk())):>5} {len(machine.states):>6} "
            f"{len(machine.transitions):>5}  {pathway.title}"
        )
    for calendar in sorted(library.calendars.values(), key=lambda c: c.id):
        slots = ", ".join(sorted(calendar.slots)) or "no slots"
        click.echo(f"calendar {calendar.id}: {calendar.timezone}, {slots}")
    sys.exit(_report(library))


def _assignments(pairs: tuple[str, ...], what: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"'{pair}' is not NAME=VALUE", param_hint=what)
        node = parse(text) if text.strip() else None
        values[name] = node.value if isinstance(node, Scalar) else text
    return values


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="A pathway parameter (repeatable).",
)
@click.option(
    "--patient",
    "patient",
    multiple=True,
    metavar="NAME=VALUE",
    help="A patient attribute (repeatable).",
)
@click.option(
    "--start",
    "start_date",
    type=click.DateTime(["%Y-%m-%d"]),
    help="First day, in clinic time (default: today); the day starts at 08:00.",
)
@click.option(
    "--scenario",
    type=click.Path(exists=True, dir_okay=False),
    help="YAML file scripting results, adverse events, delays and decisions.",
)
@click.option("--gantt", type=click.Path(dir_okay=False), help="Also draw a chart (.svg/.png).")
@_library_option
def simulate(
    file: str,
    params: tuple[str, ...],
    patient: tuple[str, ...],
    start_date: datetime | None,
    scenario: str | None,
    gantt: str | None,
    library_dir: str | None,
) -> None:
    """Run a pathway to its end in simulated time and print the dated timeline."""
    if gantt and Path(gantt).suffix.lower() not in (".svg", ".png"):
        raise click.BadParameter("the chart is written as .svg or .png", param_hint="--gantt")
    library = load([file], _context(library_dir))
    pathways = [p for p in library.pathways.values() if p.file == file]
    if library.report() or not pathways:
        sys.exit(_report(library) or 1)
    definition = load_definition(library, pathways[0].id, pathways[0].version)
    zone = definition.calendar.zone
    try:
        script = scenario_from(_scenario_file(scenario)) if scenario else Scenario()
        fields = definition.pathway
        script = replace(
            script,
            parameters={
                **script.parameters,
                **_typed(_assignments(params, "--param"), fields.parameters),
            },
            patient={
                **script.patient,
                **_typed(_assignments(patient, "--patient"), fields.patient),
            },
        )
        day = start_date.date() if start_date else datetime.now(zone).date()
        begin = datetime.combine(day, time(8, 0), zone)
        timeline = run_simulation(definition, begin, script)
    except (ScenarioError, EventRejected) as error:
        click.echo(f"{file}: cannot simulate: {error}", err=True)
        sys.exit(1)
    click.echo(render_timeline(timeline, zone))
    if gantt:
        Path(gantt).parent.mkdir(parents=True, exist_ok=True)
        draw(timeline, definition.pathway.title, Path(gantt), zone)
        click.echo(f"chart written to {gantt}", err=True)


@cli.command()
@click.argument("enrollment_id", required=False)
@click.option("--all", "every", is_flag=True, help="Verify every enrollment.")
@click.option(
    "--verify",
    is_flag=True,
    required=True,
    help="Compare the rebuilt state with the stored one (the only mode).",
)
def replay(enrollment_id: str | None, every: bool, verify: bool) -> None:
    """Rebuild enrollments from their event logs; exit 1 if any differs from what is stored."""
    from sqlmodel import Session, col, select

    from pathways.store.database import database_engine, upgrade
    from pathways.store.replay import replay as rebuild
    from pathways.store.settings import database_url
    from pathways.store.tables import Enrollment

    if bool(enrollment_id) == every:
        raise click.UsageError("give one ENROLLMENT_ID or --all")
    url = database_url()
    upgrade(url)  # the embedded database is brought up to date on start
    engine = database_engine(url)
    try:
        with Session(engine) as session:
            query = select(Enrollment).order_by(col(Enrollment.enrolled_at))
            if not every:
                query = query.where(Enrollment.id == enrollment_id)
            enrollments = list(session.exec(query))
            results = [rebuild(session, enrollment) for enrollment in enrollments]
    finally:
        engine.dispose()
    if not results:
        click.echo(
            f"no enrollment {enrollment_id}" if enrollment_id else "no enrollments", err=True
        )
        sys.exit(1 if enrollment_id else 0)
    for result in results:
        if result.matches:
            click.echo(f"{result.enrollment_id}: matches ({result.events} events)")
            continue
        click.echo(f"{result.enrollment_id}: DIFFERS ({result.events} events)")
        for difference in result.differences[:20]:
            click.echo(f"    {difference}")
    differing = sum(not result.matches for result in results)
    click.echo(f"{len(results)} enrollment(s) replayed, {differing} differ", err=True)
    sys.exit(1 if differing else 0)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option(
    "--definitions",
    "definitions_dir",
    default="definitions",
    show_default=True,
    type=click.Path(exists=True, file_okay=False),
    help="The pathway library.",
)
def up(host: str, port: int, definitions_dir: str) -> None:
    """Everything in one process: API, worker and beat, on SQLite, with demo patients."""
    import os
    import secrets
    from datetime import UTC

    import uvicorn

    from api.app import create_app
    from pathways.store.database import database_engine, upgrade
    from pathways.store.demo import PATIENTS, seed
    from pathways.store.settings import database_url
    from workers.inprocess import InProcessWorker

    url = database_url()
    upgrade(url)
    engine = database_engine(url)
    with click.progressbar(length=len(PATIENTS), label="Enrolling demo patients") as bar:
        seed(engine, Path(definitions_dir), datetime.now(UTC), bar.update)
    worker = InProcessWorker(engine)
    worker.start()
    # Embedded mode is for development: without CAREPATH_ADMIN_TOKEN a one-off token is made.
    token = os.environ.get("CAREPATH_ADMIN_TOKEN") or secrets.token_urlsafe(24)
    if len(token) < 16:
        raise click.UsageError("CAREPATH_ADMIN_TOKEN must be 16+ characters")
    click.echo(f"carepath is running at http://{host}:{port}/ (API docs: /docs)")
    click.echo(f"sign in with the bearer token: {token}")
    click.echo(f"e.g. curl -H 'Authorization: Bearer {token}' http://{host}:{port}/enrollments")
    try:
        uvicorn.run(
            create_app(engine, worker.enqueue, token), host=host, port=port, log_level="warning"
        )
    finally:
        worker.stop()
        engine.dispose()


@cli.command()
@click.option("--patients", default=100, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--pathway", default="chemotherapy", show_default=True)
@click.option(
    "--definitions",
    "definitions_dir",
    default="definitions",
    show_default=True,
    type=click.Path(exists=True, file_okay=False),
)
def seed(patients: int, pathway: str, definitions_dir: str) -> None:
    """Enrol synthetic patients in bulk (rehearsals, benchmarks), with a progress bar."""
    import secrets
    from datetime import UTC

    from pathways.runtime.events import EventRejected
    from pathways.store.database import database_engine, upgrade
    from pathways.store.definitions import publish_directory
    from pathways.store.enrollments import NotFound, enrol, register_patient
    from pathways.store.settings import database_url
    from pathways.store.unit_of_work import SqlAlchemyUnitOfWork

    url = database_url()
    upgrade(url)
    engine = database_engine(url)
    batch = secrets.token_hex(3)
    try:
        with SqlAlchemyUnitOfWork(engine) as uow:
            publish_directory(
                uow.session, Path(definitions_dir), "carepath-seed", datetime.now(UTC)
            )
            uow.commit()
        with click.progressbar(range(patients), label=f"Enrolling on {pathway}") as bar:
            for number in bar:
                with SqlAlchemyUnitOfWork(engine) as uow:
                    now = datetime.now(UTC)
                    mrn = f"SYN-{batch}-{number:07d}"
                    patient = register_patient(
                        uow, mrn, f"Synthetic {number}", "carepath-seed", now
                    )
                    enrol(
                        uow, patient.id, pathway, None, {}, {}, "carepath-seed", now, f"seed:{mrn}"
                    )
                    uow.commit()
    except (NotFound, EventRejected) as error:
        raise click.ClickException(str(error)) from None
    finally:
        engine.dispose()
    click.echo(f"enrolled {patients} synthetic patient(s) on {pathway} (batch {batch})")


@cli.command()
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--port", default=8000, show_default=True)
def api(host: str, port: int) -> None:
    """The API alone (distributed mode): CAREPATH_ADMIN_TOKEN is required."""
    import os

    import uvicorn

    from api.app import create_app
    from pathways.store.database import database_engine
    from pathways.store.settings import database_url
    from workers.celery_app import enqueue_event

    token = os.environ.get("CAREPATH_ADMIN_TOKEN", "")
    if len(token) < 16:
        raise click.UsageError("set CAREPATH_ADMIN_TOKEN (16+ characters) to run the API")
    _needs_shared_broker("carepath api")
    engine = database_engine(database_url())
    uvicorn.run(create_app(engine, enqueue_event, token), host=host, port=port)


@cli.command()
@click.option("--concurrency", default=1, show_default=True, help="Worker processes.")
def worker(concurrency: int) -> None:
    """Run a Celery worker (CAREPATH_BROKER_URL, CAREPATH_DATABASE_URL); any number may run."""
    from workers.celery_app import app

    _needs_shared_broker("carepath worker")
    app.worker_main(
        [
            "worker",
            "--loglevel=INFO",
            f"--concurrency={concurrency}",
            "--pool=prefork" if concurrency > 1 else "--pool=solo",
            "--without-gossip",
            "--without-mingle",
        ]
    )


@cli.command()
@click.option("--schedule-file", default=".carepath-beat-schedule", show_default=True)
def beat(schedule_file: str) -> None:
    """Run the one beat (sweeps every second); a second beat exits while the first holds it."""
    import os
    import signal

    from redis import Redis

    from pathways.store.settings import broker_url
    from workers.beat_lock import BeatLock
    from workers.celery_app import app

    url = broker_url()
    if not url.startswith("redis"):
        raise click.UsageError(
            "carepath beat needs CAREPATH_BROKER_URL=redis://... "
            "(the embedded mode runs its own beat: carepath up)"
        )
    lock = BeatLock(Redis.from_url(url))
    if not lock.acquire():
        click.echo(
            f"another beat is running (its lock lapses in {lock.holder_ttl_ms()} ms "
            "unless renewed): exiting",
            err=True,
        )
        sys.exit(1)

    def lost() -> None:
        # Another beat holds the lock now: stop, and let the supervisor start us again.
        click.echo("the beat lock was lost to another beat: stopping", err=True)
        os.kill(os.getpid(), signal.SIGTERM)

    lock.keep(lost)
    try:
        app.Beat(schedule=schedule_file, loglevel="INFO").run()
    finally:
        lock.release()


@cli.group()
def webhooks() -> None:
    """Webhook subscriptions that receive signed notifications."""


@webhooks.command(name="add")
@click.argument("url")
@click.option("--role", help="Only notifications for this role.")
@click.option("--event-type", help="Only this event type (e.g. task_overdue).")
@click.option(
    "--secret",
    envvar="CAREPATH_WEBHOOK_SECRET",
    prompt=True,
    hide_input=True,
    help="The HMAC signing key (or CAREPATH_WEBHOOK_SECRET); never on the command line.",
)
def webhooks_add(url: str, role: str | None, event_type: str | None, secret: str) -> None:
    """Subscribe a receiver; its posts are signed with the secret."""
    from datetime import UTC

    from pathways.store.database import database_engine, upgrade
    from pathways.store.settings import database_url
    from pathways.store.unit_of_work import SqlAlchemyUnitOfWork
    from pathways.store.webhooks import subscribe

    upgrade(database_url())
    engine = database_engine(database_url())
    try:
        with SqlAlchemyUnitOfWork(engine) as uow:
            subscription = subscribe(uow.session, url, secret, datetime.now(UTC), role, event_type)
            uow.commit()
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    finally:
        engine.dispose()
    click.echo(
        f"subscription {subscription.id}: {url} (role {role or 'any'}, event {event_type or 'any'})"
    )


@webhooks.command(name="list")
def webhooks_list() -> None:
    """The subscriptions (secrets are not shown)."""
    from sqlmodel import Session, select

    from pathways.store.database import database_engine, upgrade
    from pathways.store.settings import database_url
    from pathways.store.tables import WebhookSubscription

    upgrade(database_url())
    engine = database_engine(database_url())
    try:
        with Session(engine) as session:
            for found in session.exec(select(WebhookSubscription)):
                state = "active" if found.active else "inactive"
                click.echo(
                    f"{found.id}  {found.url}  role={found.role or 'any'}  "
                    f"event={found.event_type or 'any'}  {state}"
                )
    finally:
        engine.dispose()


def _needs_shared_broker(command: str) -> None:
    from pathways.store.settings import broker_url

    if broker_url().startswith("memory"):
        raise click.UsageError(
            f"{command} needs CAREPATH_BROKER_URL=redis://... (the in-process broker reaches "
            "no other process; `carepath up` runs everything in one)"
        )


@cli.command()
def migrate() -> None:
    """Bring the database schema up to date (run once, before api and workers start)."""
    from pathways.store.database import upgrade
    from pathways.store.settings import database_url

    upgrade(database_url())
    click.echo("the database schema is up to date")


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--actor", default="informaticist", show_default=True)
def publish(paths: tuple[str, ...], actor: str) -> None:
    """Publish definitions (validated, immutable; the same text again changes nothing)."""
    from datetime import UTC

    from pathways.store.database import database_engine, upgrade
    from pathways.store.definitions import DefinitionRejected, publish_directory
    from pathways.store.definitions import publish as publish_text
    from pathways.store.settings import database_url
    from pathways.store.unit_of_work import SqlAlchemyUnitOfWork

    upgrade(database_url())
    engine = database_engine(database_url())
    try:
        with SqlAlchemyUnitOfWork(engine) as uow:
            now = datetime.now(UTC)
            rows = []
            for path in map(Path, paths):
                if path.is_dir():
                    rows.extend(publish_directory(uow.session, path, actor, now))
                else:
                    rows.append(
                        publish_text(
                            uow.session, path.read_text(encoding="utf-8"), actor, now, str(path)
                        )
                    )
            uow.commit()
    except DefinitionRejected as rejected:
        for problem in rejected.problems:
            click.echo(problem.render(), err=True)
        raise click.ClickException(rejected.message) from None
    finally:
        engine.dispose()
    for row in rows:
        click.echo(f"published {row.kind} {row.pathway} v{row.version} ({row.content_hash[:12]})")


def _typed(values: dict[str, Any], fields: Mapping[str, Field]) -> dict[str, Any]:
    """`--patient bilsky_grade=3` means the text '3' when the attribute is a string."""
    return {
        name: str(value) if name in fields and fields[name].type == "string" else value
        for name, value in values.items()
    }


def _scenario_file(path: str) -> dict[str, Any]:
    try:
        node = parse(Path(path).read_text(encoding="utf-8"))
    except YamlSyntaxError as error:
        raise ScenarioError(
            f"{path}:{error.span.line}:{error.span.column}: {error.message}"
        ) from None
    data = to_plain(node)
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: a scenario is a mapping of keys")
    return data


def main() -> None:
    """Entry point of the console script."""
    cli()
