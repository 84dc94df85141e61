"""Webhook delivery of outbox notifications: fan-out, signed posts, retries with back-off.

Two steps, each safe to run twice at the same time:

- `dispatch_outbox` turns each undispatched outbox message into one delivery row per matching
  active subscription, in the caller's transaction (it never commits).
- `deliver_due` posts the due deliveries, one at a time: it claims a delivery by pushing its
  `next_attempt_at` forward by a lease in a short transaction, posts with no transaction open,
  then records the outcome in another short transaction. A deliverer that crashes mid-post
  leaves the delivery to be retried once the lease has passed.

Delivery is at least once: a receiver deduplicates on the X-Carepath-Message-Id header.
Logs carry delivery, message and subscription ids only: never a payload, URL or secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from pathways.store.tables import OutboxMessage, WebhookDelivery, WebhookSubscription

log = logging.getLogger(__name__)

# url, body, headers -> HTTP status code; raising counts as a failed attempt.
Post = Callable[[str, bytes, dict[str, str]], int]

LEASE = timedelta(seconds=60)  # a claimed delivery is retried after this if never recorded
POST_TIMEOUT_SECONDS = 10.0  # well inside the lease
FIRST_RETRY = timedelta(seconds=5)
LONGEST_RETRY = timedelta(hours=1)
ERROR_LENGTH = 500  # WebhookDelivery.last_error


@dataclass(frozen=True)
class DeliveryReport:
    """What one `deliver_due` run did: deliveries answered 2xx, and attempts that failed."""

    delivered: int
    failed: int


@dataclass(frozen=True)
class _Claimed:
    """A claimed delivery, ready to post with no database session open."""

    delivery_id: int
    subscription_id: int
    message_id: str
    url: str
    body: bytes
    headers: dict[str, str]


def backoff(attempts: int) -> timedelta:
    """The wait before the next try after `attempts` failed tries: 5 s, doubling, at most 1 h."""
    exponent = min(max(attempts, 1) - 1, 20)  # 5 s * 2**20 is far past the cap already
    return min(FIRST_RETRY * (1 << exponent), LONGEST_RETRY)


def sign(secret: str, body: bytes) -> str:
    """The X-Carepath-Signature value: "sha256=" and the hex HMAC-SHA256 of the body."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, body: bytes, signature: str) -> bool:
    """Whether `signature` is the body's signature under `secret` (constant-time comparison)."""
    return hmac.compare_digest(sign(secret, body), signature)


def httpx_post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """Post the body with httpx (10 s timeout, redirects not followed); the status code."""
    response = httpx.post(
        url, content=body, headers=headers, timeout=POST_TIMEOUT_SECONDS, follow_redirects=False
    )
    return response.status_code


def dispatch_outbox(session: Session, now: datetime, limit: int = 500) -> int:
    """Fan undispatched messages out to matching subscriptions; the caller commits."""
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


def deliver_due(
    engine: Engine, now: datetime, post: Post = httpx_post, limit: int = 100
) -> DeliveryReport:
    """Post each due delivery once; each outcome is committed on its own."""
    delivered = failed = 0
    for _ in range(limit):
        claimed = _claim_next(engine, now)
        if claimed is None:
            break
        error: str | None
        try:
            status = post(claimed.url, claimed.body, claimed.headers)
        except Exception as problem:  # any failure to post is a failed attempt, retried later
            error = _short_error(problem)
        else:
            error = None if 200 <= status < 300 else f"HTTP {status}"
        _record_outcome(engine, claimed.delivery_id, now, error)
        if error is None:
            delivered += 1
            log.info(
                "webhook delivery %s delivered (message %s, subscription %s)",
                claimed.delivery_id,
                claimed.message_id,
                claimed.subscription_id,
            )
        else:
            failed += 1
            log.warning(
                "webhook delivery %s failed (message %s, subscription %s): %s",
                claimed.delivery_id,
                claimed.message_id,
                claimed.subscription_id,
                error,
            )
    return DeliveryReport(delivered=delivered, failed=failed)


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


def _claim_next(engine: Engine, now: datetime) -> _Claimed | None:
    """Take the next due delivery for a lease, in a short transaction of its own."""
    query = (
        select(WebhookDelivery, OutboxMessage, WebhookSubscription)
        .join(OutboxMessage, col(OutboxMessage.id) == col(WebhookDelivery.message_id))
        .join(
            WebhookSubscription,
            col(WebhookSubscription.id) == col(WebhookDelivery.subscription_id),
        )
        .where(
            col(WebhookDelivery.delivered_at).is_(None),
            col(WebhookDelivery.next_attempt_at) <= now,
            # A deactivated subscriber's deliveries wait; they resume if it is re-activated.
            col(WebhookSubscription.active).is_(True),
        )
        .order_by(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.id))
        .limit(1)
    )
    with Session(engine, expire_on_commit=False) as session:
        if _locks_rows(session):
            query = query.with_for_update(skip_locked=True, of=WebhookDelivery)
        found = session.exec(query).first()
        if found is None:
            session.rollback()
            return None
        delivery, message, subscription = found
        assert delivery.id is not None and subscription.id is not None
        delivery.next_attempt_at = now + LEASE
        session.add(delivery)
        session.commit()
        body = _body(message, delivery.id)
        created_at = _iso(message.created_at)
        return _Claimed(
            delivery_id=delivery.id,
            subscription_id=subscription.id,
            message_id=message.id,
            url=subscription.url,
            body=body,
            headers={
                "Content-Type": "application/json",
                "X-Carepath-Event": message.event_type,
                "X-Carepath-Message-Id": message.id,
                "X-Carepath-Signature": sign(subscription.secret, body),
                "X-Carepath-Timestamp": created_at,
            },
        )


def _record_outcome(engine: Engine, delivery_id: int, now: datetime, error: str | None) -> None:
    """Mark the delivery delivered, or count the failure and schedule the next try."""
    with Session(engine) as session:
        query = select(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
        if _locks_rows(session):
            query = query.with_for_update()
        delivery = session.exec(query).one()
        if delivery.delivered_at is not None:
            # Delivered meanwhile by another deliverer whose lease outlived ours: keep that.
            session.rollback()
            return
        delivery.attempts += 1
        if error is None:
            delivery.delivered_at = now
        else:
            delivery.last_error = error[:ERROR_LENGTH]
            delivery.next_attempt_at = now + backoff(delivery.attempts)
        session.add(delivery)
        session.commit()


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


def _short_error(problem: Exception) -> str:
    """The exception's kind and first line: never the request body."""
    lines = str(problem).splitlines()
    text = f"{type(problem).__name__}: {lines[0]}" if lines else type(problem).__name__
    return text[:ERROR_LENGTH]


def _locks_rows(session: Session) -> bool:
    """PostgreSQL takes row locks; SQLite serialises writers for the whole database."""
    return session.get_bind().dialect.name == "postgresql"


def subscribe(
    session: Session,
    url: str,
    secret: str,
    now: datetime,
    role: str | None = None,
    event_type: str | None = None,
) -> WebhookSubscription:
    """Add a receiver for all notifications, or those of one role or event type."""
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"'{url}' is not an http(s) URL")
    if len(secret) < 16:
        raise ValueError("the signing secret must be at least 16 characters")
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
