"""What an admin does with webhooks: subscribe, disable, enable, remove, see and retry dead letters.

Each change is written to the audit log (who, what, when) in the caller's transaction; the
caller commits. Nothing here posts: the deliverer picks up what these make due.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from pathways.store.effects import audit
from pathways.store.tables import OutboxMessage, WebhookDelivery, WebhookSubscription
from pathways.store.webhook_signing import check_secret, new_secret


class WebhookNotFound(LookupError):
    """No subscription or delivery has that id."""


@dataclass(frozen=True)
class DeadLetter:
    """A delivery that used every attempt: what it was, where to, and why it last failed."""

    delivery_id: int
    subscription_id: int
    message_id: str
    event_type: str
    attempts: int
    last_attempt_at: datetime | None
    last_error: str | None


def subscribe(
    session: Session,
    url: str,
    now: datetime,
    secret: str | None = None,
    role: str | None = None,
    event_type: str | None = None,
) -> WebhookSubscription:
    """Add a receiver for all notifications, or those of one role or event type."""
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"'{url}' is not an http(s) URL")
    if secret is None:
        secret = new_secret()
    check_secret(secret)
    subscription = WebhookSubscription.model_validate(
        {
            "url": url,
            "secret": secret,
            "role": role,
            "event_type": event_type,
            "active": True,
            "created_at": now,
        }
    )
    session.add(subscription)
    session.flush()
    return subscription


def set_active(
    session: Session, subscription_id: int, active: bool, actor: str, now: datetime
) -> WebhookSubscription:
    """Enable or disable a subscription: disabled, it gets no new deliveries and posts none."""
    subscription = _subscription(session, subscription_id)
    subscription.active = active
    session.add(subscription)
    action = "webhook_enabled" if active else "webhook_disabled"
    audit(session, actor, action, "webhook_subscription", str(subscription_id), now, None, {})
    session.flush()
    return subscription


def delivery_counts(session: Session, subscription_id: int) -> dict[str, int]:
    """How many of a subscription's deliveries are pending, delivered and dead."""
    rows = session.exec(
        select(WebhookDelivery.status, func.count())
        .where(WebhookDelivery.subscription_id == subscription_id)
        .group_by(col(WebhookDelivery.status))
    )
    counts = {"pending": 0, "delivered": 0, "dead": 0}
    counts.update({status: int(count) for status, count in rows})
    return counts


def remove(session: Session, subscription_id: int, actor: str, now: datetime) -> dict[str, int]:
    """Delete a subscription and its delivery rows; the audit log keeps how many of each."""
    subscription = _subscription(session, subscription_id)
    counts = delivery_counts(session, subscription_id)
    session.exec(
        delete(WebhookDelivery).where(col(WebhookDelivery.subscription_id) == subscription_id)
    )
    session.delete(subscription)
    detail = {
        "deliveries": counts,
        "role": subscription.role,
        "event_type": subscription.event_type,
    }
    audit(
        session,
        actor,
        "webhook_removed",
        "webhook_subscription",
        str(subscription_id),
        now,
        None,
        detail,
    )
    session.flush()
    return counts


def dead_letters(session: Session, subscription_id: int | None = None) -> list[DeadLetter]:
    """The dead deliveries, oldest last attempt first."""
    query = (
        select(WebhookDelivery, OutboxMessage.event_type)
        .join(OutboxMessage, col(OutboxMessage.id) == col(WebhookDelivery.message_id))
        .where(WebhookDelivery.status == "dead")
        .order_by(col(WebhookDelivery.last_attempt_at), col(WebhookDelivery.id))
    )
    if subscription_id is not None:
        query = query.where(WebhookDelivery.subscription_id == subscription_id)
    return [
        DeadLetter(
            delivery_id=delivery.id or 0,
            subscription_id=delivery.subscription_id,
            message_id=delivery.message_id,
            event_type=event_type,
            attempts=delivery.attempts,
            last_attempt_at=delivery.last_attempt_at,
            last_error=delivery.last_error,
        )
        for delivery, event_type in session.exec(query)
    ]


def retry(session: Session, delivery_id: int, actor: str, now: datetime) -> WebhookDelivery:
    """Make a dead (or waiting) delivery due now, with a fresh count of attempts."""
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        raise WebhookNotFound(f"no webhook delivery {delivery_id}")
    if delivery.status == "delivered":
        raise ValueError(f"webhook delivery {delivery_id} was delivered already")
    before = {"status": delivery.status, "attempts": delivery.attempts}
    delivery.status = "pending"
    delivery.attempts = 0
    delivery.next_attempt_at = now
    delivery.leased_until = None
    session.add(delivery)
    audit(
        session, actor, "webhook_retried", "webhook_delivery", str(delivery_id), now, None, before
    )
    session.flush()
    return delivery


def _subscription(session: Session, subscription_id: int) -> WebhookSubscription:
    subscription = session.get(WebhookSubscription, subscription_id)
    if subscription is None:
        raise WebhookNotFound(f"no webhook subscription {subscription_id}")
    return subscription
