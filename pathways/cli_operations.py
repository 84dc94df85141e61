"""The database and process commands: up, api, worker, beat, migrate, publish, seed,
replay and webhooks. Registered on the `carepath` group; they import the store lazily."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pathways.cli_group import cli
from workers import QUEUES

if TYPE_CHECKING:
    from fastapi import FastAPI
    from sqlalchemy import Engine

    from api.oidc_settings import OidcConfig
    from pathways.service.bus import Service
    from pathways.store.settings import Settings


def _migrated_engine() -> Engine:
    """The configured database, its schema brought to head (embedded mode's start-up)."""
    from pathways.store.database import database_engine, upgrade

    url = _settings().database_url
    upgrade(url)
    return database_engine(url)


@contextmanager
def service() -> Iterator[Service]:
    """The write side over the configured database, for one command of the command line.

    It tells no worker of the events it records: the recovery sweep applies them."""
    from pathways.service.bus import Service

    engine = _migrated_engine()
    try:
        yield Service.on(engine)
    finally:
        engine.dispose()


def _definitions_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--definitions",
        "definitions_dir",
        default="definitions",
        show_default=True,
        type=click.Path(exists=True, file_okay=False),
        help="The pathway library.",
    )(function)


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

    from pathways.store.replay import replay as rebuild
    from pathways.store.tables import Enrollment

    if bool(enrollment_id) == every:
        raise click.UsageError("give one ENROLLMENT_ID or --all")
    engine = _migrated_engine()
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
@_definitions_option
def up(host: str, port: int, definitions_dir: str) -> None:
    """Everything in one process: API, worker and beat, on SQLite, with demo patients."""
    import secrets

    from api.app import create_app
    from api.logs import serve
    from pathways.service.demo import PATIENTS, seed
    from workers.inprocess import InProcessWorker

    read = _settings()  # a settings mistake stops us before anything starts
    oidc = _oidc_settings()
    engine = _migrated_engine()
    worker = InProcessWorker(engine)  # the demo is enrolled through the worker's own service
    with click.progressbar(length=len(PATIENTS), label="Enrolling demo patients") as bar:
        seed(worker.service, Path(definitions_dir), bar.update)
    worker.start()
    # Embedded mode is for development: without CAREPATH_ADMIN_TOKEN a one-off token is made.
    token = read.admin_token or secrets.token_urlsafe(24)
    click.echo(f"carepath is running at http://{host}:{port}/ (API docs: /docs)")
    click.echo(f"sign in with the bearer token: {token}")
    click.echo(f"e.g. curl -H 'Authorization: Bearer {token}' http://{host}:{port}/enrollments")
    try:
        serve(create_app(engine, worker.enqueue, token, oidc), host, port, level="warning")
    finally:
        worker.stop()
        engine.dispose()


@cli.command()
@click.option("--patients", default=100, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--pathway", default="chemotherapy", show_default=True)
@_definitions_option
def seed(patients: int, pathway: str, definitions_dir: str) -> None:
    """Enrol synthetic patients in bulk (rehearsals, benchmarks), with a progress bar."""
    import secrets

    from pathways.runtime.events import EventRejected
    from pathways.service.commands import Enrol, PublishLibrary, RegisterPatient
    from pathways.store.enrollments import NotFound

    batch = secrets.token_hex(3)
    actor = "carepath-seed"
    with service() as writes:
        try:
            writes.handle(PublishLibrary(paths=(definitions_dir,), actor=actor))
            with click.progressbar(range(patients), label=f"Enrolling on {pathway}") as bar:
                for number in bar:
                    mrn = f"SYN-{batch}-{number:07d}"
                    name = f"Synthetic {number}"
                    patient = writes.handle(
                        RegisterPatient(mrn=mrn, display_name=name, actor=actor)
                    )
                    writes.handle(
                        Enrol(
                            patient_id=patient.patient.id,
                            pathway=pathway,
                            idempotency_key=f"seed:{mrn}",
                            actor=actor,
                        )
                    )
        except (NotFound, EventRejected) as error:
            raise click.ClickException(str(error)) from None
    click.echo(f"enrolled {patients} synthetic patient(s) on {pathway} (batch {batch})")


@cli.command()
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(1, 32),
    help="API processes (default CAREPATH_API_WORKERS, else the CPU cores up to 4).",
)
def api(host: str, port: int, workers: int | None) -> None:
    """The API alone (distributed mode): CAREPATH_ADMIN_TOKEN is required."""
    # Settings first: a bad CAREPATH_* value is a usage error, not a traceback from the
    # Celery app (which reads them when imported).
    read = _settings()
    if read.admin_token is None:
        raise click.UsageError("set CAREPATH_ADMIN_TOKEN (16+ characters) to run the API")
    _needs_shared_broker("carepath api")
    _oidc_settings()  # a sign-in mistake stops us here, before any process starts
    from api.logs import serve

    processes = workers or read.api_processes()
    click.echo(f"carepath API on http://{host}:{port}/ with {processes} process(es)")
    # Each process builds its own app (its own database pool) from the environment.
    serve(f"{__name__}:distributed_app", host, port, processes=processes)


def distributed_app() -> FastAPI:
    """The API as one `carepath api` process serves it, wired from CAREPATH_* settings."""
    from api.app import create_app
    from api.logs import settled
    from pathways.store.database import database_engine
    from workers.celery_app import enqueue_event

    read = _settings()
    assert read.admin_token is not None, "`carepath api` checks the token before serving"
    engine = database_engine(read.database_url)
    return settled(create_app(engine, enqueue_event, read.admin_token, _oidc_settings()))


def _queue_list(_context: click.Context, _param: click.Parameter, value: str) -> list[str]:
    chosen = [name.strip() for name in value.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(QUEUES))
    if unknown or not chosen:
        raise click.BadParameter(
            f"{', '.join(unknown) or 'nothing'}: choose from {','.join(QUEUES)}, comma-separated"
        )
    return chosen


@cli.command()
@click.option("--concurrency", default=1, show_default=True, help="Worker processes.")
@click.option(
    "--queues",
    default=",".join(QUEUES),
    show_default=True,
    callback=_queue_list,
    help="Which queues this worker serves: events (scale these), sweeps, deliveries.",
)
def worker(concurrency: int, queues: list[str]) -> None:
    """Run a Celery worker (CAREPATH_BROKER_URL, CAREPATH_DATABASE_URL); any number may run."""
    from workers.celery_app import app

    _needs_shared_broker("carepath worker")
    app.worker_main(
        [
            "worker",
            "--loglevel=INFO",
            f"--concurrency={concurrency}",
            f"--queues={','.join(queues)}",
            # prefork even for one process: the solo pool ignores the tasks' time limits.
            "--pool=prefork",
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


def _needs_shared_broker(command: str) -> None:
    from pathways.store.settings import broker_url

    if broker_url().startswith("memory"):
        raise click.UsageError(
            f"{command} needs CAREPATH_BROKER_URL=redis://... (the in-process broker reaches "
            "no other process; `carepath up` runs everything in one)"
        )


def _settings() -> Settings:
    """The CAREPATH_* settings; a bad value stops the command with what to fix."""
    from pydantic import ValidationError

    from pathways.store.settings import settings

    try:
        return settings()
    except ValidationError as error:
        problems = "; ".join(
            f"CAREPATH_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in error.errors()
        )
        raise click.UsageError(problems) from None


def _oidc_settings() -> OidcConfig | None:
    """Sign-in with the hospital's OpenID Connect provider, from CAREPATH_OIDC_* (None: off)."""
    from api.oidc_settings import OidcSettingsError, oidc_config

    try:
        return oidc_config(_settings())
    except OidcSettingsError as error:
        raise click.UsageError(str(error)) from None


@cli.command()
def migrate() -> None:
    """Bring the database schema up to date (run once, before api and workers start)."""
    from pathways.store.database import upgrade

    upgrade(_settings().database_url)
    click.echo("the database schema is up to date")


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--actor", default="informaticist", show_default=True)
def publish(paths: tuple[str, ...], actor: str) -> None:
    """Publish definitions (validated, immutable; the same text again changes nothing)."""
    from pathways.service.commands import PublishLibrary
    from pathways.store.definitions import DefinitionRejected

    with service() as writes:
        try:
            rows = writes.handle(PublishLibrary(paths=paths, actor=actor))
        except DefinitionRejected as rejected:
            for problem in rejected.problems:
                click.echo(problem.render(), err=True)
            raise click.ClickException(rejected.message) from None
    for row in rows:
        click.echo(f"published {row.kind} {row.pathway} v{row.version} ({row.content_hash[:12]})")


@cli.group()
def token() -> None:
    """API bearer tokens."""


def _operator() -> str:
    """Who runs the command, for the audit log: the operating-system user."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in this container
        return "cli"


@token.command(name="create")
@click.option(
    "--role",
    required=True,
    help="admin, navigator, dashboard, or a staff role such as lab (pathways/roles.py).",
)
@click.option("--actor", help="Who the token stands for in the audit log (default: the role).")
@click.option(
    "--expires-in",
    "days",
    type=click.IntRange(1, 365),
    default=90,
    show_default=True,
    help="Days until the token is refused (at most 365).",
)
def token_create(role: str, actor: str | None, days: int) -> None:
    """Issue a token; it is printed once and only its hash is stored (audited)."""
    from pathways.roles import known_role, unknown_role
    from pathways.service.commands import IssueToken

    if not known_role(role):
        raise click.BadParameter(unknown_role(role), param_hint="--role")
    with service() as writes:
        issued = writes.handle(
            IssueToken(role=role, holder=actor or role, days=days, actor=_operator())
        )
    click.echo(issued)
    click.echo(
        f"a {role} token for {actor or role}, for {days} days: shown once, stored only as a hash",
        err=True,
    )


@token.command(name="list")
def token_list() -> None:
    """Every token issued, newest first: id, role, actor, created, expires, revoked (no token)."""
    from datetime import UTC

    from sqlmodel import Session

    from pathways.store.tokens import tokens

    engine = _migrated_engine()
    try:
        with Session(engine) as session:
            rows = tokens(session)
    finally:
        engine.dispose()
    now = datetime.now(UTC)
    click.echo(f"{'id':>5}  {'role':<26} {'actor':<24} {'created':<16} {'expires':<16} revoked")
    for row in rows:
        expires = f"{row.expires_at:%Y-%m-%d %H:%M}" + ("*" if row.expires_at <= now else "")
        revoked = f"{row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "-"
        click.echo(
            f"{row.id:>5}  {row.role:<26} {row.actor:<24} {row.created_at:%Y-%m-%d %H:%M} "
            f"{expires:<16} {revoked}"
        )
    if any(row.expires_at <= now for row in rows):
        click.echo("* expired", err=True)


@token.command(name="revoke")
@click.argument("token_id", type=int)
@click.option("--reason", help="Why, for the audit log (e.g. 'left the clinic').")
def token_revoke(token_id: int, reason: str | None) -> None:
    """Revoke a token by its id (from `token list`): refused from now on (audited)."""
    from pathways.service.commands import RevokeToken

    with service() as writes:
        row = writes.handle(RevokeToken(token_id=token_id, reason=reason, actor=_operator()))
    if row is None:
        raise click.ClickException(f"no token {token_id} (carepath token list shows them)")
    assert row.revoked_at is not None
    click.echo(
        f"token {token_id} ({row.role} for {row.actor}) revoked at {row.revoked_at:%Y-%m-%d %H:%M}"
    )
