"""`carepath events`: see and settle events quarantined after repeated failures.

Retrying or rejecting needs no broker: the recovery sweep applies what was waiting within
seconds (CAREPATH_RECOVER_AFTER_SECONDS after it was recorded)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from pathways.cli_group import cli

if TYPE_CHECKING:
    from pathways.service.commands import Command


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
    from pathways.service.commands import RetryEvent

    _settle(RetryEvent(event_id=event_id, actor=actor))
    click.echo(f"event {event_id} will be retried; the recovery sweep applies it")


@events.command()
@click.argument("event_id", type=click.IntRange(min=1, max=2**63 - 1))
@click.option("--reason", required=True, help="Why it is rejected (kept in the audit trail).")
@click.option("--actor", default="admin", show_default=True, help="Who settles it (audited).")
def reject(event_id: int, reason: str, actor: str) -> None:
    """End a quarantined event unapplied, so the events after it go on."""
    from pathways.service.commands import RejectEvent

    if not reason.strip() or "\x00" in reason or len(reason) > 300:
        raise click.BadParameter("give a reason of 1 to 300 characters", param_hint="--reason")
    _settle(RejectEvent(event_id=event_id, reason=reason.strip(), actor=actor))
    click.echo(f"event {event_id} rejected; the recovery sweep applies what waited behind it")


def _settle(command: Command[Any]) -> None:
    from pathways.cli_operations import service
    from pathways.store.quarantine import NotQuarantined

    with service() as writes:
        try:
            writes.handle(command)
        except NotQuarantined as error:
            click.echo(f"error: {error}: see `carepath events quarantined`", err=True)
            sys.exit(1)
