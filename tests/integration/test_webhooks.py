"""Webhook notifications on SQLite and PostgreSQL: fan-out, signed posts, retries, back-off."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from pathways.store.tables import OutboxMessage, WebhookDelivery, WebhookSubscription
from pathways.store.webhooks import (
    DeliveryReport,
    backoff,
    deliver_due,
    dispatch_outbox,
    sign,
    verify,
)

T0 = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
ENROLLMENT = "7d4c1f0e-0000-4000-8000-000000000001"


@dataclass
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1: records every POST, answers with the queued statuses."""

    port: int
    statuses: list[int] = field(default_factory=list)  # answered in order; then 200
    requests: list[Received] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiving clinic system, stopped at the end of the test."""
    state = Receiver(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.requests.append(Received(self.path, dict(self.headers.items()), body))
            status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep the test output quiet

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    # A short poll interval: shutdown() waits for the loop to look, and the suite stays fast.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _subscribe(
    engine: Engine,
    url: str,
    *,
    secret: str = "s3cret",
    role: str | None = None,
    event_type: str | None = None,
    active: bool = True,
) -> int:
    with Session(engine) as session:
        subscription = WebhookSubscription(
            url=url, secret=secret, role=role, event_type=event_type, active=active, created_at=T0
        )
        session.add(subscription)
        session.commit()
        assert subscription.id is not None
        return subscription.id


def _notify(
    engine: Engine,
    message_id: str,
    event_type: str = "task_created",
    role: str | None = "lab",
    at: datetime = T0,
) -> None:
    with Session(engine) as session:
        session.add(
            OutboxMessage(
                id=message_id,
                enrollment_id=ENROLLMENT,
                event_type=event_type,
                role=role,
                payload={"task": "task-1", "step": "baseline_labs", "due": "2026-11-26"},
                created_at=at,
            )
        )
        session.commit()


def _dispatch(engine: Engine, now: datetime = T0) -> int:
    with Session(engine) as session:
        created = dispatch_outbox(session, now)
        session.commit()
        return created


def _deliveries(engine: Engine) -> list[WebhookDelivery]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(WebhookDelivery).order_by(
                    col(WebhookDelivery.message_id), col(WebhookDelivery.subscription_id)
                )
            )
        )


def test_a_message_reaches_every_matching_subscriber_once_however_often_it_is_dispatched(
    engine: Engine,
) -> None:
    everything = _subscribe(engine, "http://clinic.invalid/all")
    lab = _subscribe(engine, "http://clinic.invalid/lab", role="lab")
    _subscribe(engine, "http://clinic.invalid/radiology", role="radiology")
    created = _subscribe(engine, "http://clinic.invalid/created", event_type="task_created")
    overdue = _subscribe(engine, "http://clinic.invalid/overdue", event_type="task_overdue")
    _subscribe(engine, "http://clinic.invalid/retired", active=False)
    _notify(engine, "msg-1", "task_created", "lab")
    _notify(engine, "msg-2", "task_overdue", None, at=T0 + timedelta(seconds=1))

    assert _dispatch(engine) == 5
    assert _dispatch(engine, T0 + timedelta(minutes=1)) == 0

    fanned_out = {(d.message_id, d.subscription_id) for d in _deliveries(engine)}
    assert fanned_out == {
        ("msg-1", everything),
        ("msg-1", lab),
        ("msg-1", created),
        ("msg-2", everything),
        ("msg-2", overdue),
    }
    assert len(_deliveries(engine)) == 5
    assert all(d.next_attempt_at == T0 and d.delivered_at is None for d in _deliveries(engine))
    with Session(engine) as session:
        assert {m.dispatched_at for m in session.exec(select(OutboxMessage))} == {T0}


def test_two_dispatchers_at_the_same_moment_create_each_delivery_once(engine: Engine) -> None:
    _subscribe(engine, "http://clinic.invalid/all")
    _subscribe(engine, "http://clinic.invalid/lab", role="lab")
    _notify(engine, "msg-1")
    second: list[int] = []

    def dispatch_alongside() -> None:
        second.append(_dispatch(engine))

    with Session(engine) as first:
        assert dispatch_outbox(first, T0) == 2  # holding its rows, not yet committed
        other = threading.Thread(target=dispatch_alongside)
        other.start()
        if engine.dialect.name == "postgresql":
            # The other dispatcher skips the locked message instead of waiting for it.
            other.join(timeout=10)
            assert second == [0]
        first.commit()  # on SQLite the other dispatcher waits for this write to end
    other.join(timeout=10)

    assert second == [0]
    assert len(_deliveries(engine)) == 2


def test_dispatching_a_message_again_reaches_a_new_subscriber_without_repeating_the_others(
    engine: Engine,
) -> None:
    first = _subscribe(engine, "http://clinic.invalid/all")
    _notify(engine, "msg-1")
    assert _dispatch(engine) == 1
    later = _subscribe(engine, "http://clinic.invalid/lab", role="lab")
    with Session(engine) as session:  # an operator re-opens the message for the new subscriber
        message = session.exec(select(OutboxMessage)).one()
        message.dispatched_at = None
        session.add(message)
        session.commit()

    assert _dispatch(engine, T0 + timedelta(hours=1)) == 1

    assert [(d.subscription_id, d.next_attempt_at) for d in _deliveries(engine)] == [
        (first, T0),
        (later, T0 + timedelta(hours=1)),
    ]


def test_a_receiver_gets_a_signed_notification_it_can_verify_and_it_is_marked_delivered(
    engine: Engine, receiver: Receiver
) -> None:
    subscription = _subscribe(engine, receiver.url("/hooks/lab"), secret="lab-key", role="lab")
    _notify(engine, "msg-1", "task_created", "lab")
    _dispatch(engine)

    assert deliver_due(engine, T0) == DeliveryReport(delivered=1, failed=0)

    [request] = receiver.requests
    assert request.path == "/hooks/lab"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Carepath-Message-Id"] == "msg-1"
    assert request.headers["X-Carepath-Event"] == "task_created"
    assert request.headers["X-Carepath-Timestamp"] == "2026-11-23T14:00:00.000000Z"
    assert verify("lab-key", request.body, request.headers["X-Carepath-Signature"])
    assert not verify("another-key", request.body, request.headers["X-Carepath-Signature"])
    assert not verify("lab-key", request.body + b" ", request.headers["X-Carepath-Signature"])
    [delivery] = _deliveries(engine)
    assert json.loads(request.body) == {
        "id": "msg-1",
        "delivery": delivery.id,
        "event_type": "task_created",
        "role": "lab",
        "enrollment_id": ENROLLMENT,
        "created_at": "2026-11-23T14:00:00.000000Z",
        "payload": {"task": "task-1", "step": "baseline_labs", "due": "2026-11-26"},
    }
    assert b" " not in request.body  # compact: the signed bytes are exactly what was sent
    assert delivery.subscription_id == subscription
    assert delivery.delivered_at == T0
    assert delivery.last_error is None

    assert deliver_due(engine, T0 + timedelta(hours=2)) == DeliveryReport(delivered=0, failed=0)
    assert len(receiver.requests) == 1


def test_a_receiver_answering_500_is_retried_after_the_back_off_with_the_same_message(
    engine: Engine, receiver: Receiver
) -> None:
    receiver.statuses = [500, 200]
    _subscribe(engine, receiver.url("/hooks"))
    _notify(engine, "msg-1")
    _dispatch(engine)

    assert deliver_due(engine, T0) == DeliveryReport(delivered=0, failed=1)
    [delivery] = _deliveries(engine)
    assert delivery.delivered_at is None
    assert delivery.attempts == 1
    assert delivery.last_error == "HTTP 500"
    assert delivery.next_attempt_at == T0 + backoff(1) == T0 + timedelta(seconds=5)

    assert deliver_due(engine, T0 + timedelta(seconds=4)) == DeliveryReport(0, 0)
    assert len(receiver.requests) == 1

    assert deliver_due(engine, T0 + timedelta(seconds=5)) == DeliveryReport(1, 0)
    assert deliver_due(engine, T0 + timedelta(hours=2)) == DeliveryReport(0, 0)
    first, second = receiver.requests  # at least once: twice here, the same message both times
    assert first.headers["X-Carepath-Message-Id"] == second.headers["X-Carepath-Message-Id"]
    assert first.body == second.body
    assert verify("s3cret", second.body, second.headers["X-Carepath-Signature"])
    [delivery] = _deliveries(engine)
    assert delivery.delivered_at == T0 + timedelta(seconds=5)
    assert delivery.attempts == 2


def test_a_receiver_that_is_down_records_the_error_and_does_not_hold_up_the_others(
    engine: Engine, receiver: Receiver
) -> None:
    down = _subscribe(engine, f"http://127.0.0.1:{_closed_port()}/hooks")  # attempted first
    up = _subscribe(engine, receiver.url("/hooks"))
    _notify(engine, "msg-1")
    _dispatch(engine)

    assert deliver_due(engine, T0) == DeliveryReport(delivered=1, failed=1)

    outcome = {d.subscription_id: d for d in _deliveries(engine)}
    assert outcome[up].delivered_at == T0
    assert outcome[down].delivered_at is None
    assert outcome[down].attempts == 1
    assert outcome[down].next_attempt_at == T0 + timedelta(seconds=5)
    error = outcome[down].last_error
    assert error is not None and error.startswith("ConnectError")
    assert "baseline_labs" not in error  # the notification itself is never in the error
    assert len(receiver.requests) == 1


def test_a_delivery_left_by_a_crashed_deliverer_is_sent_once_its_lease_has_passed(
    engine: Engine, receiver: Receiver
) -> None:
    _subscribe(engine, receiver.url("/hooks"))
    _notify(engine, "msg-1")
    _dispatch(engine)

    class WorkerLost(BaseException):
        pass

    def crash(url: str, body: bytes, headers: dict[str, str]) -> int:
        raise WorkerLost

    with pytest.raises(WorkerLost):
        deliver_due(engine, T0, post=crash)
    [delivery] = _deliveries(engine)
    assert delivery.delivered_at is None
    assert delivery.next_attempt_at == T0 + timedelta(seconds=60)

    assert deliver_due(engine, T0 + timedelta(seconds=30)) == DeliveryReport(0, 0)
    assert deliver_due(engine, T0 + timedelta(seconds=60)) == DeliveryReport(1, 0)
    assert len(receiver.requests) == 1


def test_the_wait_between_tries_doubles_from_5_seconds_and_never_exceeds_an_hour() -> None:
    assert [backoff(attempts).total_seconds() for attempts in range(1, 7)] == [
        5,
        10,
        20,
        40,
        80,
        160,
    ]
    assert backoff(10) == timedelta(seconds=2560)
    assert backoff(11) == timedelta(hours=1)
    assert backoff(1000) == timedelta(hours=1)


def test_a_signature_is_the_hex_hmac_sha256_of_the_exact_body() -> None:
    # Known answer, the same as `openssl dgst -sha256 -hmac key` gives for these bytes.
    signature = sign("key", b'{"id":"msg-1"}')
    assert signature == "sha256=02608f8796b9ea9a058606bef5c79fe6308cb835b2eff20b0a0a8ff20db9feb7"
    assert verify("key", b'{"id":"msg-1"}', signature)
    assert not verify("key", b'{"id":"msg-2"}', signature)
    assert not verify("key", b'{"id":"msg-1"}', "sha256=" + "0" * 64)
