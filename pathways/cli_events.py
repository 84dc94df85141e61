"""`carepath events`: see and settle events quarantined after repeated failures.

Retrying or rejecting needs no broker: the recovery sweep applies what was waiting within
seconds (CAREPATH_RECOVER_AFTER_SECONDS after it was recorded)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from pathways.cli_group import cli

if TYPE_CHECKING:
    from pathways.store.unit_of_work import SqlAlchemyUnitOfWork


@cli.group()
def events() -> None:
    """Events whose application kept failing (quarantined): list, retry, reject."""


@events.command(name="quarantined")
def list_quarantined() -> None:
    """List quarantined events, oldest first (ids, types and error classes only)."""
    from sqlmodel import Session

    from pathways.cli_operations import _migrated_engine
    from pathways.store.quarantine import quarantined_events

    engine = _migrated_engine()
    with Session(engine) as session:
        found = quarantined_events(session)
        for event in found:
            since = f"{event.quarantined_at:%Y-%m-%d %H:%M}"
            click.echo(
                f"{event.id}\t{event.enrollment_id}\t{event.type}\t"
                f"{event.attempts} attempts\t{event.last_error}\tsince {since}"
            )
    engine.dispose()
    click.echo(f"{len(found)} quarantined event(s)", err=True)


@events.command()
@click.argument("event_id", type=click.IntRange(min=1, max=2**63 - 1))
@click.option("--actor", default="admin", show_default=True, help="Who settles it (audited).")
def retry(event_id: int, actor: str) -> None:
    """Put a quarantined event back in line, once its cause is fixed."""
    from pathways.store.quarantine import retry_event

    _settle(lambda uow, now: retry_event(uow, event_id, actor, now))
    click.echo(f"event {event_id} will be retried; the recovery sweep applies it")


@events.command()
@click.argument("event_id", type=click.IntRange(min=1, max=2**63 - 1))
@click.option("--reason", required=True, help="Why it is rejected (kept in the audit trail).")
@click.option("--actor", default="admin", show_default=True, help="Who settles it (audited).")
def reject(event_id: int, reason: str, actor: str) -> None:
    """End a quarantined event unapplied, so the events after it go on."""
    from pathways.store.quarantine import reject_event

    if not reason.strip() or "\x00" in reason or len(reason) > 300:
        raise click.BadParameter("give a reason of 1 to 300 characters", param_hint="--reason")
    _settle(lambda uow, now: reject_event(uow, event_id, actor, reason.strip(), now))
    click.echo(f"event {event_id} rejected; the recovery sweep applies what waited behind it")


def _settle(action: Callable[[SqlAlchemyUnitOfWork, datetime], object]) -> None:
    from pathways.cli_operations import _migrated_engine
    from pathways.store.quarantine import NotQuarantined
    from pathways.store.unit_of_work import SqlAlchemyUnitOfWork

    engine = _migrated_engine()
    try:
        with SqlAlchemyUnitOfWork(engine) as uow:
            action(uow, datetime.now(UTC))
    except NotQuarantined as error:
        click.echo(f"error: {error}: see `carepath events quarantined`", err=True)
        sys.exit(1)
    finally:
        engine.dispose()
