"""Handlers for webhooks: fan the outbox out, post due deliveries, manage subscriptions.

Delivering is a loop of short units, never one long transaction: claim a delivery (commit),
post it with no transaction open, record the outcome (commit). A deliverer that dies mid-post
leaves its lease to expire, and the delivery is tried again.
"""

from __future__ import annotations

import logging

from pathways.service.commands import (
    DeliverWebhooks,
    DispatchOutbox,
    RemoveSubscription,
    RetryDeliveries,
    SetSubscriptionActive,
    Subscribe,
)
from pathways.service.context import Context
from pathways.store.tables import WebhookDelivery, WebhookSubscription
from pathways.store.webhook_admin import remove, retry, set_active, subscribe
from pathways.store.webhooks import (
    Claimed,
    DeliveryReport,
    claim_one,
    dispatch_outbox,
    record_outcome,
    short_error,
)

log = logging.getLogger(__name__)
CLAIM_TRIES = 3  # another deliverer may take the one picked: pick again, a few times


def dispatch(command: DispatchOutbox, context: Context) -> int:
    """New outbox messages become one delivery per matching active subscriber."""
    with context.unit_of_work() as uow:
        created = dispatch_outbox(uow.session, context.clock())
        uow.commit()
    return created


def deliver(command: DeliverWebhooks, context: Context) -> DeliveryReport:
    """Post each due delivery once, reading the clock at every claim and after every post.

    An exception the post raises counts as a failed attempt, except one of the context's
    `interrupts` (a Celery soft time limit): that ends the run at once, counting nothing,
    and the delivery is tried again once its lease has passed."""
    allowed = command.attempts_allowed or context.webhook_attempts
    delivered = failed = dead = 0
    for _ in range(command.limit):
        claimed = _claim_next(context)
        if claimed is None:
            break
        error: str | None
        try:
            status = context.post(claimed.url, claimed.body, claimed.headers)
        except Exception as problem:  # any failure to post is a failed attempt, retried later
            if isinstance(problem, context.interrupts):
                raise
            error = short_error(problem)
        else:
            error = None if 200 <= status < 300 else f"HTTP {status}"
        with context.unit_of_work() as uow:
            outcome = record_outcome(uow, claimed, context.clock(), error, allowed)
            uow.commit()
        ids = (claimed.delivery_id, claimed.message_id, claimed.subscription_id)
        if error is None:
            delivered += 1
            log.info("webhook delivery %s delivered (message %s, subscription %s)", *ids)
            continue
        failed += 1
        if outcome == "dead":
            dead += 1
            log.error("webhook delivery %s is dead (message %s, subscription %s): %s", *ids, error)
        else:
            log.warning("webhook delivery %s failed (message %s, subscription %s): %s", *ids, error)
    return DeliveryReport(delivered=delivered, failed=failed, dead=dead)


def _claim_next(context: Context) -> Claimed | None:
    for _ in range(CLAIM_TRIES):
        with context.unit_of_work() as uow:
            found = claim_one(uow, context.clock())
            if found:
                uow.commit()
                return found
        if found is None:
            return None
    return None


def add_subscription(command: Subscribe, context: Context) -> WebhookSubscription:
    """Subscribe a receiver; the subscription answered carries its secret, to show once."""
    with context.unit_of_work() as uow:
        subscription = subscribe(
            uow.session,
            command.url,
            context.clock(),
            command.secret,
            command.role,
            command.event_type,
        )
        uow.commit()
    return subscription


def activate(command: SetSubscriptionActive, context: Context) -> None:
    """Enable or disable a subscription (audited)."""
    with context.unit_of_work() as uow:
        set_active(
            uow.session, command.subscription_id, command.active, command.actor, context.clock()
        )
        uow.commit()


def remove_subscription(command: RemoveSubscription, context: Context) -> dict[str, int]:
    """Delete a subscription and its deliveries; the counts removed (audited)."""
    with context.unit_of_work() as uow:
        counts = remove(uow.session, command.subscription_id, command.actor, context.clock())
        uow.commit()
    return counts


def retry_deliveries(command: RetryDeliveries, context: Context) -> list[WebhookDelivery]:
    """Make dead deliveries due now, with a fresh count of attempts (audited); one commit."""
    with context.unit_of_work() as uow:
        now = context.clock()
        retried = [
            retry(uow.session, delivery_id, command.actor, now)
            for delivery_id in command.delivery_ids
        ]
        uow.commit()
    return retried
