"""Webhook delivery of outbox notifications: fan-out, signed posts, back-off, dead letters.

Two steps, each safe to run twice at the same time:

- `dispatch_outbox` turns each undispatched outbox message into one delivery row per matching
  active subscription, in the caller's transaction (it never commits). A sweep.
- delivering (the DeliverWebhooks handler, pathways/service/webhooks.py) posts the due
  deliveries one at a time, reading the clock at each attempt: `claim_one` claims a delivery
  with a lease (`leased_until`, set only if no live lease is there, checked by the row
  count), the handler posts with no transaction open, reads the clock again and
  `record_outcome` records the outcome. A retry waits the back-off from the end of the
  failed post; after the last allowed attempt the delivery is `dead`. A deliverer that
  crashes mid-post leaves the delivery to be retried once its lease has passed.

Delivery is at least once: a receiver deduplicates on the `webhook-id` header.
Logs carry delivery, message and subscription ids only: never a payload, URL or secret.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
from sqlalchemy import CursorResult, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from pathways.store.tables import OutboxMessage, WebhookDelivery, WebhookSubscription
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork
from pathways.store.webhook_signing import is_legacy, legacy_signature, signed_headers

log = logging.getLogger(__name__)

# url, body, headers -> HTTP status code; raising counts as a failed attempt.
Post = Callable[[str, bytes, dict[str, str]], int]

POST_TIMEOUT_SECONDS = 10.0  # connect, write, and each read; the body is never read
LEASE = timedelta(seconds=120)  # far past one post: a live deliverer never loses its claim
BATCH = 20  # deliveries per run: a run lasts at most BATCH posts (the task's time limit)
FIRST_RETRY = timedelta(seconds=5)
GROWTH = 3  # each wait three times the one before: 12 attempts span about a day
LONGEST_RETRY = timedelta(hours=6)
JITTER = 0.1  # up to 10 % added, never taken off: no retry comes sooner than documented
ERROR_LENGTH = 500  # WebhookDelivery.last_error


@dataclass(frozen=True)
class DeliveryReport:
    """What one delivery run did: posts answered 2xx, failed, and deliveries now dead."""

    delivered: int
    failed: int
    dead: int = 0


@dataclass(frozen=True)
class Claimed:
    """A claimed delivery, ready to post with no database session open."""

    delivery_id: int
    subscription_id: int
    message_id: str
    leased_until: datetime
    url: str
    body: bytes
    headers: dict[str, str]


def backoff(attempts: int, delivery_id: int = 0) -> timedelta:
    """The wait after `attempts` failed tries: 5 s, tripling, at most 6 h, plus 0-10 % jitter."""
    exponent = min(max(attempts, 1) - 1, 12)  # 5 s * 3**12 is far past the cap already
    wait: timedelta = min(FIRST_RETRY * int(GROWTH**exponent), LONGEST_RETRY)
    # Jitter from a hash, not a random draw: spread out yet reproducible in tests and logs.
    digest = hashlib.sha256(f"{delivery_id}:{attempts}".encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2**64
    return wait * (1 + JITTER * fraction)


def httpx_post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """Post the body (10 s timeouts, redirects not followed); the status, body left unread."""
    with httpx.stream(
        "POST",
        url,
        content=body,
        headers=headers,
        timeout=POST_TIMEOUT_SECONDS,
        follow_redirects=False,
    ) as response:
        return response.status_code


def dispatch_outbox(session: Session, now: datetime, limit: int = 500) -> int:
    """Fan undispatched messages out to matching active subscriptions; the caller commits."""
    query = (
        select(OutboxMessage)
        .where(col(OutboxMessage.dispatched_at).is_(None))
        .order_by(col(OutboxMessage.created_at), col(OutboxMessage.id))
        .limit(limit)
    )
    if _locks_rows(session):
        # A second dispatcher skips the messages this one holds rather than waiting for them.
        query = query.with_for_update(skip_locked=True)
    messages = list(session.exec(query))
    if not messages:
        return 0
    subscriptions = list(
        session.exec(
            select(WebhookSubscription)
            .where(col(WebhookSubscription.active).is_(True))
            .order_by(col(WebhookSubscription.id))
        )
    )
    created = 0
    for message in messages:
        rows = [
            {
                "message_id": message.id,
                "subscription_id": subscription.id,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
            }
            for subscription in subscriptions
            if _matches(subscription, message)
        ]
        if rows:
            created += _insert_new_deliveries(session, rows)
        message.dispatched_at = now
        session.add(message)
    session.flush()
    return created


def _matches(subscription: WebhookSubscription, message: OutboxMessage) -> bool:
    return subscription.role in (None, message.role) and subscription.event_type in (
        None,
        message.event_type,
    )


def _insert_new_deliveries(session: Session, rows: list[dict[str, Any]]) -> int:
    # ON CONFLICT DO NOTHING on uq_delivery_once: re-dispatching a message (dispatched_at
    # cleared to reach a new subscriber) never duplicates a delivery already made.
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(WebhookDelivery)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["message_id", "subscription_id"])
        .returning(col(WebhookDelivery.id))
    )
    return len(session.exec(statement).all())


def _claimable(now: datetime) -> list[Any]:
    """Due, pending, and not under another deliverer's live lease."""
    return [
        col(WebhookDelivery.status) == "pending",
        col(WebhookDelivery.next_attempt_at) <= now,
        or_(col(WebhookDelivery.leased_until).is_(None), col(WebhookDelivery.leased_until) <= now),
    ]


def claim_one(uow: SqlAlchemyUnitOfWork, now: datetime) -> Claimed | Literal[False] | None:
    """Lease the next due delivery of an enabled subscription (the caller commits at once).

    None when none is due; False when another deliverer took the one picked (pick again)."""
    query = (
        select(WebhookDelivery.id)
        .join(
            WebhookSubscription,
            col(WebhookSubscription.id) == col(WebhookDelivery.subscription_id),
        )
        # A disabled subscriber's deliveries wait; they resume if it is enabled again.
        .where(*_claimable(now), col(WebhookSubscription.active).is_(True))
        .order_by(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.id))
        .limit(1)
    )
    leased_until = now + LEASE
    session = uow.session
    if uow.locks_rows:
        query = query.with_for_update(skip_locked=True, of=WebhookDelivery)
    delivery_id = session.exec(query).first()
    if delivery_id is None:
        return None
    # The claim itself: only one deliverer's UPDATE finds the row still claimable.
    taken: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(WebhookDelivery)
        .where(col(WebhookDelivery.id) == delivery_id, *_claimable(now))
        .values(leased_until=leased_until)
    )
    if taken.rowcount != 1:
        return False
    delivery = session.get_one(WebhookDelivery, delivery_id)
    message = session.get_one(OutboxMessage, delivery.message_id)
    subscription = session.get_one(WebhookSubscription, delivery.subscription_id)
    assert subscription.id is not None
    body = _body(message, delivery_id)
    return Claimed(
        delivery_id=delivery_id,
        subscription_id=subscription.id,
        message_id=message.id,
        leased_until=leased_until,
        url=subscription.url,
        body=body,
        headers=_headers(subscription.secret, message, body, now),
    )


def _headers(secret: str, message: OutboxMessage, body: bytes, now: datetime) -> dict[str, str]:
    headers = {"Content-Type": "application/json", **signed_headers(secret, message.id, now, body)}
    if is_legacy(secret):
        # Receivers built for the old scheme keep working until their subscription is renewed.
        headers |= {
            "X-Carepath-Event": message.event_type,
            "X-Carepath-Message-Id": message.id,
            "X-Carepath-Signature": legacy_signature(secret, body),
            "X-Carepath-Timestamp": _iso(message.created_at),
        }
    return headers


def record_outcome(
    uow: SqlAlchemyUnitOfWork, claimed: Claimed, now: datetime, error: str | None, allowed: int
) -> str:
    """Mark the delivery delivered, or count the failure: the next try, or dead after the last."""
    session = uow.session
    query = select(WebhookDelivery).where(WebhookDelivery.id == claimed.delivery_id)
    if uow.locks_rows:
        query = query.with_for_update()
    delivery = session.exec(query).one()
    ours = delivery.leased_until == claimed.leased_until
    if delivery.status != "pending" or (error is not None and not ours):
        # Settled meanwhile, or (a failure) re-claimed after our lease: leave it be.
        return delivery.status
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.leased_until = None
    if error is None:
        delivery.status = "delivered"
        delivery.delivered_at = now
    else:
        delivery.last_error = error[:ERROR_LENGTH]
        if delivery.attempts >= allowed:
            delivery.status = "dead"
        else:
            delivery.next_attempt_at = now + backoff(delivery.attempts, claimed.delivery_id)
    session.add(delivery)
    return delivery.status


def _body(message: OutboxMessage, delivery_id: int) -> bytes:
    document = {
        "id": message.id,
        "delivery": delivery_id,
        "event_type": message.event_type,
        "role": message.role,
        "enrollment_id": message.enrollment_id,
        "created_at": _iso(message.created_at),
        "payload": message.payload,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _iso(moment: datetime) -> str:
    """ISO-8601 in UTC with a Z, always to the microsecond so the format never varies."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def short_error(problem: Exception) -> str:
    """The exception's kind and first line: never the request body."""
    lines = str(problem).splitlines()
    text = f"{type(problem).__name__}: {lines[0]}" if lines else type(problem).__name__
    return text[:ERROR_LENGTH]


def _locks_rows(session: Session) -> bool:
    """PostgreSQL takes row locks; SQLite serialises writers for the whole database."""
    return session.get_bind().dialect.name == "postgresql"
