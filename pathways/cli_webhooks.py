"""`carepath webhooks`: subscriptions, and the dead-letter runbook (see, retry, remove).

Registered on the `carepath` group; the store is imported lazily, as in cli_operations.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from pathways.cli_group import cli

if TYPE_CHECKING:
    from sqlmodel import Session

    from pathways.service.bus import Service


@contextmanager
def _session() -> Iterator[Session]:
    """A read session on the configured (migrated) database."""
    from sqlmodel import Session

    from pathways.cli_operations import _migrated_engine

    engine = _migrated_engine()
    try:
        with _found(), Session(engine) as session:
            yield session
    finally:
        engine.dispose()


@contextmanager
def _service() -> Iterator[Service]:
    """The write side on the configured database; a missing id is a clean error."""
    from pathways.cli_operations import service

    with _found(), service() as writes:
        yield writes


@contextmanager
def _found() -> Iterator[None]:
    from pathways.store.webhook_admin import WebhookNotFound

    try:
        yield
    except WebhookNotFound as missing:
        raise click.ClickException(str(missing)) from None


def _actor_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--actor", default="operator", show_default=True, help="Who, for the audit log."
    )(function)


@cli.group()
def webhooks() -> None:
    """Webhook subscriptions that receive signed notifications, and dead letters."""


@webhooks.command(name="add")
@click.argument("url")
@click.option("--role", help="Only notifications for this role.")
@click.option("--event-type", help="Only this event type (e.g. task_overdue).")
def webhooks_add(url: str, role: str | None, event_type: str | None) -> None:
    """Subscribe a receiver; its posts are signed (Standard Webhooks) with a whsec_ secret.

    The secret is CAREPATH_WEBHOOK_SECRET if set (whsec_ and base64), otherwise a new one,
    printed once: give it to the receiver.
    """
    from pathways.roles import known_role, unknown_role
    from pathways.service.commands import Subscribe
    from pathways.store.settings import settings

    if role is not None and not known_role(role):
        raise click.BadParameter(unknown_role(role), param_hint="--role")
    given = settings().webhook_secret
    command = Subscribe(url=url, secret=given, role=role, event_type=event_type)
    with _service() as writes:
        try:
            subscription = writes.handle(command)
        except ValueError as error:
            raise click.BadParameter(str(error)) from None
        click.echo(
            f"subscription {subscription.id}: {url} "
            f"(role {role or 'any'}, event {event_type or 'any'})"
        )
        if given is None:
            click.echo(f"signing secret (shown once): {subscription.secret}")


@webhooks.command(name="list")
def webhooks_list() -> None:
    """The subscriptions with their pending and dead deliveries (secrets are not shown)."""
    from sqlmodel import col, select

    from pathways.store.tables import WebhookSubscription
    from pathways.store.webhook_admin import delivery_counts
    from pathways.store.webhook_signing import is_legacy

    with _session() as session:
        query = select(WebhookSubscription).order_by(col(WebhookSubscription.id))
        for found in session.exec(query):
            assert found.id is not None
            counts = delivery_counts(session, found.id)
            state = "active" if found.active else "disabled"
            scheme = "  legacy-signature" if is_legacy(found.secret) else ""
            click.echo(
                f"{found.id}  {found.url}  role={found.role or 'any'}  "
                f"event={found.event_type or 'any'}  {state}  "
                f"pending={counts['pending']} dead={counts['dead']}{scheme}"
            )


@webhooks.command(name="disable")
@click.argument("subscription_id", type=int)
@_actor_option
def webhooks_disable(subscription_id: int, actor: str) -> None:
    """Stop posting to a subscription: no new deliveries; pending ones wait until enabled."""
    _set_active(subscription_id, False, actor)


@webhooks.command(name="enable")
@click.argument("subscription_id", type=int)
@_actor_option
def webhooks_enable(subscription_id: int, actor: str) -> None:
    """Post to a disabled subscription again, starting with the deliveries that waited."""
    _set_active(subscription_id, True, actor)


def _set_active(subscription_id: int, active: bool, actor: str) -> None:
    from pathways.service.commands import SetSubscriptionActive

    with _service() as writes:
        writes.handle(
            SetSubscriptionActive(subscription_id=subscription_id, active=active, actor=actor)
        )
    click.echo(f"subscription {subscription_id} {'enabled' if active else 'disabled'}")


@webhooks.command(name="remove")
@click.argument("subscription_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@_actor_option
def webhooks_remove(subscription_id: int, yes: bool, actor: str) -> None:
    """Delete a subscription and its delivery history (counts kept in the audit log)."""
    from pathways.service.commands import RemoveSubscription
    from pathways.store.webhook_admin import delivery_counts

    with _session() as session:
        counts = delivery_counts(session, subscription_id)
        summary = ", ".join(f"{count} {status}" for status, count in counts.items())
        if not yes:
            click.confirm(
                f"delete subscription {subscription_id} and its deliveries ({summary})?",
                abort=True,
            )
    with _service() as writes:
        writes.handle(RemoveSubscription(subscription_id=subscription_id, actor=actor))
    click.echo(f"removed subscription {subscription_id} and its deliveries ({summary})")


@webhooks.command(name="dead")
@click.option("--subscription", "subscription_id", type=int, help="Only this subscription's.")
def webhooks_dead(subscription_id: int | None) -> None:
    """List dead deliveries: every attempt failed; `retry` sends them again."""
    from pathways.store.webhook_admin import dead_letters

    with _session() as session:
        letters = dead_letters(session, subscription_id)
    for letter in letters:
        last = letter.last_attempt_at.isoformat() if letter.last_attempt_at else "-"
        click.echo(
            f"{letter.delivery_id}  subscription={letter.subscription_id}  "
            f"message={letter.message_id}  {letter.event_type}  attempts={letter.attempts}  "
            f"last={last}  {letter.last_error or ''}"
        )
    click.echo(f"{len(letters)} dead deliver{'y' if len(letters) == 1 else 'ies'}", err=True)


@webhooks.command(name="retry")
@click.argument("delivery_ids", nargs=-1, type=int)
@click.option(
    "--subscription", "subscription_id", type=int, help="Retry every dead delivery of this one."
)
@_actor_option
def webhooks_retry(delivery_ids: tuple[int, ...], subscription_id: int | None, actor: str) -> None:
    """Send dead deliveries again, now, with a fresh set of attempts."""
    from pathways.service.commands import RetryDeliveries
    from pathways.store.webhook_admin import dead_letters

    if bool(delivery_ids) == (subscription_id is not None):
        raise click.UsageError("give delivery IDs or --subscription, not both or neither")
    with _session() as session:
        ids = list(delivery_ids) or [
            letter.delivery_id for letter in dead_letters(session, subscription_id)
        ]
    with _service() as writes:
        try:
            writes.handle(RetryDeliveries(delivery_ids=tuple(ids), actor=actor))
        except ValueError as error:
            raise click.ClickException(str(error)) from None
    click.echo(f"{len(ids)} deliver{'y' if len(ids) == 1 else 'ies'} due again now")
