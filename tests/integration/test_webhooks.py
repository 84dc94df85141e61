"""Webhook notifications on SQLite and PostgreSQL: fan-out, signed posts, retries, back-off,
leases that keep overlapping deliverers from posting twice, and dead letters.

The deliverer reads an injected clock at each claim and after each post; the receivers here
are real HTTP servers on loopback, and a receiver that "takes 4 s" advances that clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from pathways.service.bus import Service
from pathways.service.commands import DeliverWebhooks
from pathways.store.tables import (
    AuditLog,
    OutboxMessage,
    WebhookDelivery,
    WebhookSubscription,
)
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork
from pathways.store.webhook_admin import dead_letters, remove, retry, set_active
from pathways.store.webhook_signing import new_secret, verify
from pathways.store.webhooks import (
    BATCH,
    LEASE,
    DeliveryReport,
    Post,
    backoff,
    dispatch_outbox,
    httpx_post,
)
from tests.integration.api_support import Api

T0 = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
ENROLLMENT = "7d4c1f0e-0000-4000-8000-000000000001"
SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


def deliver_due(
    engine: Engine,
    clock: Callable[[], datetime],
    post: Post = httpx_post,
    limit: int = BATCH,
    attempts_allowed: int | None = None,
    interrupts: tuple[type[BaseException], ...] = (),
) -> DeliveryReport:
    """One run of the DeliverWebhooks handler, on this clock and poster."""
    service = Service(lambda: SqlAlchemyUnitOfWork(engine), clock, post=post, interrupts=interrupts)
    return service.handle(DeliverWebhooks(limit=limit, attempts_allowed=attempts_allowed))


class Clock:
    """An injected clock: reads return `now`; a slow receiver moves it on."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def at(self, moment: datetime) -> Clock:
        self.now = moment
        return self

    def slow(self, post: Post, takes: timedelta) -> Post:
        """`post`, taking `takes` of this clock's time."""

        def slowly(url: str, body: bytes, headers: dict[str, str]) -> int:
            self.now += takes
            return post(url, body, headers)

        return slowly


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
    secret: str = SECRET,
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


def _header(request: Received, name: str) -> str:
    return {key.lower(): value for key, value in request.headers.items()}[name.lower()]


def test_a_receiver_verifies_the_standard_webhooks_signature_and_the_delivery_is_marked_delivered(
    engine: Engine, receiver: Receiver
) -> None:
    from standardwebhooks import Webhook

    # The standardwebhooks library checks the timestamp against the real clock: post "now".
    attempt = datetime.now(UTC).replace(microsecond=0)
    subscription = _subscribe(engine, receiver.url("/hooks/lab"), role="lab")
    _notify(engine, "msg-1", "task_created", "lab", at=attempt - timedelta(minutes=1))
    _dispatch(engine, attempt)

    assert deliver_due(engine, Clock(attempt)) == DeliveryReport(delivered=1, failed=0)

    [request] = receiver.requests
    assert request.path == "/hooks/lab"
    assert _header(request, "Content-Type") == "application/json"
    assert _header(request, "webhook-id") == "msg-1"
    assert _header(request, "webhook-timestamp") == str(int(attempt.timestamp()))
    assert Webhook(SECRET).verify(request.body, request.headers)["id"] == "msg-1"
    assert verify(SECRET, request.headers, request.body, attempt)
    assert not verify(new_secret(), request.headers, request.body, attempt)
    assert not verify(SECRET, request.headers, request.body + b" ", attempt)
    assert not any(name.lower().startswith("x-carepath") for name in request.headers)
    [delivery] = _deliveries(engine)
    assert json.loads(request.body) == {
        "id": "msg-1",
        "delivery": delivery.id,
        "event_type": "task_created",
        "role": "lab",
        "enrollment_id": ENROLLMENT,
        "created_at": (attempt - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "payload": {"task": "task-1", "step": "baseline_labs", "due": "2026-11-26"},
    }
    assert b" " not in request.body  # compact: the signed bytes are exactly what was sent
    assert delivery.subscription_id == subscription
    assert (delivery.status, delivery.delivered_at, delivery.last_error) == (
        "delivered",
        attempt,
        None,
    )
    later = Clock(attempt + timedelta(hours=2))
    assert deliver_due(engine, later) == DeliveryReport(delivered=0, failed=0)
    assert len(receiver.requests) == 1


def test_a_post_replayed_after_five_minutes_is_refused_by_the_receiver(
    engine: Engine, receiver: Receiver
) -> None:
    from standardwebhooks import Webhook, WebhookVerificationError

    _subscribe(engine, receiver.url("/hooks"))
    _notify(engine, "msg-1")
    _dispatch(engine)
    deliver_due(engine, Clock(T0))
    [request] = receiver.requests

    assert verify(SECRET, request.headers, request.body, T0 + timedelta(minutes=4))
    assert not verify(SECRET, request.headers, request.body, T0 + timedelta(minutes=6))
    with pytest.raises(WebhookVerificationError):  # T0 is days before the real clock
        Webhook(SECRET).verify(request.body, request.headers)


def test_a_subscription_from_before_standard_webhooks_also_gets_the_old_signature_headers(
    engine: Engine, receiver: Receiver
) -> None:
    legacy = "an-old-plain-secret"
    _subscribe(engine, receiver.url("/hooks"), secret=legacy)
    _notify(engine, "msg-1")
    _dispatch(engine)
    deliver_due(engine, Clock(T0))

    [request] = receiver.requests
    old = hmac.new(legacy.encode(), request.body, hashlib.sha256).hexdigest()
    assert _header(request, "X-Carepath-Signature") == f"sha256={old}"
    assert _header(request, "X-Carepath-Message-Id") == "msg-1"
    assert verify(legacy, request.headers, request.body, T0)  # keyed with the secret's bytes


def test_a_retry_never_comes_sooner_than_the_back_off_after_a_slow_failed_post(
    engine: Engine, receiver: Receiver
) -> None:
    receiver.statuses = [500, 200]
    _subscribe(engine, receiver.url("/hooks"))
    _notify(engine, "msg-1")
    _dispatch(engine)
    clock = Clock(T0)

    slow = clock.slow(httpx_post, timedelta(seconds=4))  # the receiver answers 500 after 4 s
    assert deliver_due(engine, clock, post=slow) == DeliveryReport(delivered=0, failed=1)

    [delivery] = _deliveries(engine)
    assert delivery.id is not None
    failed_at = T0 + timedelta(seconds=4)
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("pending", 1, "HTTP 500")
    assert delivery.last_attempt_at == failed_at
    assert delivery.next_attempt_at == failed_at + backoff(1, delivery.id)
    assert delivery.next_attempt_at >= failed_at + timedelta(seconds=5)

    assert deliver_due(engine, clock.at(failed_at + timedelta(seconds=4.9))) == DeliveryReport(0, 0)
    assert len(receiver.requests) == 1
    assert deliver_due(engine, clock.at(delivery.next_attempt_at)) == DeliveryReport(1, 0)
    first, second = receiver.requests  # at least once: twice here, the same message both times
    assert _header(first, "webhook-id") == _header(second, "webhook-id") == "msg-1"
    assert first.body == second.body
    assert _header(second, "webhook-timestamp") == str(int(delivery.next_attempt_at.timestamp()))


def test_overlapping_deliverers_never_post_a_delivery_twice(
    engine: Engine, receiver: Receiver
) -> None:
    _subscribe(engine, receiver.url("/hooks"))
    _notify(engine, "msg-1")
    _notify(engine, "msg-2", at=T0 + timedelta(seconds=1))
    _dispatch(engine, T0 + timedelta(seconds=1))
    clock = Clock(T0 + timedelta(seconds=1))
    overlapping: list[DeliveryReport] = []

    def slow_first_post(url: str, body: bytes, headers: dict[str, str]) -> int:
        # The first post takes 62 s; meanwhile the next scheduled run starts, as beat does.
        clock.now += timedelta(seconds=62)
        if not overlapping:
            runner = threading.Thread(target=lambda: overlapping.append(deliver_due(engine, clock)))
            runner.start()
            runner.join(timeout=30)
        return httpx_post(url, body, headers)

    first = deliver_due(engine, clock, post=slow_first_post)

    assert sorted(_header(r, "webhook-id") for r in receiver.requests) == ["msg-1", "msg-2"]
    assert first.delivered + overlapping[0].delivered == 2
    assert {d.status for d in _deliveries(engine)} == {"delivered"}
    assert all(d.attempts == 1 for d in _deliveries(engine))


def test_a_receiver_that_is_down_records_the_error_and_does_not_hold_up_the_others(
    engine: Engine, receiver: Receiver
) -> None:
    down = _subscribe(engine, f"http://127.0.0.1:{_closed_port()}/hooks")  # attempted first
    up = _subscribe(engine, receiver.url("/hooks"))
    _notify(engine, "msg-1")
    _dispatch(engine)

    assert deliver_due(engine, Clock(T0)) == DeliveryReport(delivered=1, failed=1)

    outcome = {d.subscription_id: d for d in _deliveries(engine)}
    assert outcome[up].delivered_at == T0
    assert outcome[down].delivered_at is None
    assert outcome[down].attempts == 1
    assert outcome[down].next_attempt_at >= T0 + timedelta(seconds=5)
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
        deliver_due(engine, Clock(T0), post=crash)
    [delivery] = _deliveries(engine)
    assert (delivery.status, delivery.leased_until) == ("pending", T0 + LEASE)

    assert deliver_due(engine, Clock(T0 + LEASE - timedelta(seconds=1))) == DeliveryReport(0, 0)
    assert deliver_due(engine, Clock(T0 + LEASE)) == DeliveryReport(1, 0)
    assert len(receiver.requests) == 1


def test_after_the_last_allowed_attempt_a_delivery_is_dead_until_an_admin_retries_it(
    engine: Engine, receiver: Receiver
) -> None:
    receiver.statuses = [503, 503, 503]
    subscription = _subscribe(engine, receiver.url("/hooks"))
    _notify(engine, "msg-1")
    _dispatch(engine)
    clock = Clock(T0)

    reports = []
    for _ in range(3):
        reports.append(deliver_due(engine, clock, attempts_allowed=3))
        [delivery] = _deliveries(engine)
        clock.at(delivery.next_attempt_at)
    assert reports == [DeliveryReport(0, 1), DeliveryReport(0, 1), DeliveryReport(0, 1, dead=1)]
    [delivery] = _deliveries(engine)
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("dead", 3, "HTTP 503")
    days_later = clock.at(clock.now + timedelta(days=3))
    assert deliver_due(engine, days_later, attempts_allowed=3) == DeliveryReport(0, 0)
    assert len(receiver.requests) == 3
    with Session(engine) as session:
        [letter] = dead_letters(session)
        assert (letter.delivery_id, letter.subscription_id) == (delivery.id, subscription)
        assert (letter.message_id, letter.event_type, letter.attempts) == (
            "msg-1",
            "task_created",
            3,
        )

        assert delivery.id is not None
        retry(session, delivery.id, "admin", days_later())
        session.commit()
        assert dead_letters(session) == []

    assert deliver_due(engine, days_later, attempts_allowed=3) == DeliveryReport(1, 0)
    assert len(receiver.requests) == 4
    with Session(engine) as session:
        retried = session.exec(select(AuditLog).where(AuditLog.action == "webhook_retried")).one()
        assert retried.detail == {"status": "dead", "attempts": 3}


def test_a_disabled_subscription_gets_no_new_deliveries_and_posts_nothing_until_enabled(
    engine: Engine, receiver: Receiver
) -> None:
    subscription = _subscribe(engine, receiver.url("/hooks"))
    _notify(engine, "msg-1")
    _dispatch(engine)  # a delivery is waiting
    with Session(engine) as session:
        set_active(session, subscription, False, "admin", T0)
        session.commit()
    _notify(engine, "msg-2", at=T0 + timedelta(seconds=1))

    assert _dispatch(engine, T0 + timedelta(seconds=2)) == 0
    assert deliver_due(engine, Clock(T0 + timedelta(seconds=2))) == DeliveryReport(0, 0)
    assert receiver.requests == []

    with Session(engine) as session:
        set_active(session, subscription, True, "admin", T0 + timedelta(minutes=1))
        session.commit()
    assert deliver_due(engine, Clock(T0 + timedelta(minutes=1))) == DeliveryReport(1, 0)
    assert [_header(r, "webhook-id") for r in receiver.requests] == ["msg-1"]


def test_removing_a_subscription_deletes_its_deliveries_and_the_audit_log_says_how_many(
    engine: Engine, receiver: Receiver
) -> None:
    receiver.statuses = [500]
    gone = _subscribe(engine, receiver.url("/gone"))
    kept = _subscribe(engine, receiver.url("/kept"), role="radiology")
    _notify(engine, "msg-1")
    _notify(engine, "msg-2", role="radiology", at=T0 + timedelta(seconds=1))
    _dispatch(engine, T0 + timedelta(seconds=1))
    deliver_due(engine, Clock(T0 + timedelta(seconds=1)))  # msg-1 fails, msg-2 goes to both

    with Session(engine) as session:
        counts = remove(session, gone, "admin", T0 + timedelta(minutes=1))
        session.commit()
        assert counts == {"pending": 1, "delivered": 1, "dead": 0}
        assert session.get(WebhookSubscription, gone) is None
        entry = session.exec(select(AuditLog).where(AuditLog.action == "webhook_removed")).one()
        assert (entry.actor, entry.target_id) == ("admin", str(gone))
        assert entry.detail["deliveries"] == counts
    assert {d.subscription_id for d in _deliveries(engine)} == {kept}


def test_twelve_attempts_span_about_a_day_and_no_wait_is_shorter_than_documented() -> None:
    documented = [5, 15, 45, 135, 405, 1215, 3645, 10935, 21600, 21600, 21600]
    for delivery_id in (1, 2, 977):
        waits = [backoff(n, delivery_id).total_seconds() for n in range(1, 12)]
        assert all(base <= wait <= base * 1.1 for base, wait in zip(documented, waits, strict=True))
        assert timedelta(hours=22) < timedelta(seconds=sum(waits)) < timedelta(hours=25)
        assert waits == [backoff(n, delivery_id).total_seconds() for n in range(1, 12)]
    assert backoff(1000, 5) <= timedelta(hours=6.6)
    # the jitter spreads deliveries that failed together
    assert len({backoff(3, delivery_id) for delivery_id in range(20)}) == 20


def test_a_secret_must_be_a_whsec_key_and_a_new_one_is_verifiable_by_the_library() -> None:
    from standardwebhooks import Webhook

    from pathways.store.webhook_signing import check_secret, signed_headers

    for bad, why in (
        ("s3cret-but-not-whsec", "start with whsec_"),
        ("whsec_not base64!", "base64"),
        ("whsec_c2hvcnQ=", "24 to 64 bytes"),
    ):
        with pytest.raises(ValueError, match=why):
            check_secret(bad)
    secret = new_secret()
    check_secret(secret)
    now = datetime.now(UTC)
    body = b'{"id":"msg-1"}'
    assert Webhook(secret).verify(body, signed_headers(secret, "msg-1", now, body)) == {
        "id": "msg-1"
    }


def _carepath(database_url: str, *args: str, input: str | None = None) -> tuple[int, str]:
    from click.testing import CliRunner

    from pathways.cli import cli

    env = {"CAREPATH_DATABASE_URL": database_url, "CAREPATH_WEBHOOK_SECRET": ""}
    result = CliRunner().invoke(cli, list(args), env=env, input=input)
    return result.exit_code, result.output


def test_an_admin_sees_dead_letters_retries_them_and_disables_and_removes_a_receiver(
    engine: Engine, database_url: str, receiver: Receiver
) -> None:
    receiver.statuses = [503, 503]
    subscription = _subscribe(engine, receiver.url("/hooks"))
    _notify(engine, "msg-1")
    _dispatch(engine)
    clock = Clock(T0)
    for _ in range(2):
        deliver_due(engine, clock, attempts_allowed=2)
        clock.at(_deliveries(engine)[0].next_attempt_at)
    [delivery] = _deliveries(engine)

    code, output = _carepath(database_url, "webhooks", "dead")
    assert code == 0
    assert f"{delivery.id}  subscription={subscription}  message=msg-1  task_created" in output
    assert "attempts=2" in output and "HTTP 503" in output
    _, listed = _carepath(database_url, "webhooks", "list")
    assert "pending=0 dead=1" in listed

    code, output = _carepath(database_url, "webhooks", "retry", str(delivery.id))
    assert code == 0 and "1 delivery due again now" in output
    assert deliver_due(engine, Clock(datetime.now(UTC))) == DeliveryReport(1, 0)
    code, output = _carepath(database_url, "webhooks", "retry", str(delivery.id))
    assert code == 1 and "was delivered already" in output

    assert _carepath(database_url, "webhooks", "disable", str(subscription))[0] == 0
    assert "disabled" in _carepath(database_url, "webhooks", "list")[1]
    assert _carepath(database_url, "webhooks", "enable", str(subscription))[0] == 0

    code, output = _carepath(database_url, "webhooks", "remove", str(subscription), input="n\n")
    assert code == 1 and "0 pending, 1 delivered, 0 dead" in output  # asked, and refused
    assert len(_deliveries(engine)) == 1
    code, output = _carepath(database_url, "webhooks", "remove", str(subscription), "--yes")
    assert code == 0 and f"removed subscription {subscription}" in output
    assert _deliveries(engine) == []
    code, output = _carepath(database_url, "webhooks", "disable", str(subscription))
    assert code == 1 and f"no webhook subscription {subscription}" in output


def test_a_new_subscription_gets_a_secret_printed_once_that_verifies_its_posts(
    engine: Engine, database_url: str, receiver: Receiver
) -> None:
    from standardwebhooks import Webhook

    code, output = _carepath(database_url, "webhooks", "add", receiver.url("/hooks"))
    assert code == 0, output
    secret = output.split("signing secret (shown once): ")[1].split()[0]
    assert secret.startswith("whsec_")
    assert secret not in _carepath(database_url, "webhooks", "list")[1]
    _notify(engine, "msg-1")
    moment = datetime.now(UTC)
    _dispatch(engine, moment)
    deliver_due(engine, Clock(moment))
    [request] = receiver.requests
    assert Webhook(secret).verify(request.body, request.headers)["id"] == "msg-1"


def test_an_admin_reads_dead_letters_over_the_api_and_no_other_role_may(
    api: Api, receiver: Receiver
) -> None:
    receiver.statuses = [410]
    subscription = _subscribe(api.engine, receiver.url("/hooks"))
    _notify(api.engine, "msg-1")
    _dispatch(api.engine)
    deliver_due(api.engine, Clock(T0), attempts_allowed=1)
    [delivery] = _deliveries(api.engine)

    answer = api.call("GET", "/webhooks/dead-letters", role="admin")
    assert answer.status_code == 200
    assert answer.json() == [
        {
            "delivery_id": delivery.id,
            "subscription_id": subscription,
            "message_id": "msg-1",
            "event_type": "task_created",
            "attempts": 1,
            "last_attempt_at": "2026-11-23T14:00:00Z",
            "last_error": "HTTP 410",
        }
    ]
    assert SECRET not in answer.text and "/hooks" not in answer.text
    other = api.call("GET", f"/webhooks/dead-letters?subscription={subscription + 1}", role="admin")
    assert other.json() == []
    for role in ("navigator", "dashboard", "lab"):
        refused = api.call("GET", "/webhooks/dead-letters", role=role)
        assert refused.status_code == 403, role
        assert refused.headers["content-type"] == "application/problem+json"
        assert "admin only" in refused.json()["detail"]


def test_a_run_stopped_by_its_time_limit_mid_post_counts_no_attempt_and_posts_no_more(
    engine: Engine, receiver: Receiver
) -> None:
    _subscribe(engine, receiver.url("/hooks"))
    _notify(engine, "msg-1")
    _notify(engine, "msg-2", at=T0 + timedelta(seconds=1))
    _dispatch(engine, T0 + timedelta(seconds=1))

    class TimeLimit(Exception):
        pass

    def interrupted(url: str, body: bytes, headers: dict[str, str]) -> int:
        raise TimeLimit

    with pytest.raises(TimeLimit):
        deliver_due(
            engine, Clock(T0 + timedelta(seconds=1)), post=interrupted, interrupts=(TimeLimit,)
        )
    first, second = _deliveries(engine)
    assert (first.attempts, first.last_error, first.leased_until) == (
        0,
        None,
        T0 + timedelta(seconds=1) + LEASE,
    )
    assert second.leased_until is None  # the run ended: nothing else was claimed


def test_deliveries_from_before_dead_letters_keep_their_state_through_the_migration(
    database_url: str,
) -> None:
    from sqlalchemy import text

    from pathways.store.database import database_engine, downgrade, upgrade

    downgrade(database_url, "0008-1")
    engine = database_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO webhook_subscription (id, url, secret, active, created_at) "
                    "VALUES (1, 'http://clinic.invalid/hooks', 'an-old-plain-secret', true, :t)"
                ),
                {"t": T0},
            )
            for message in ("msg-1", "msg-2"):
                connection.execute(
                    text(
                        "INSERT INTO outbox_message (id, enrollment_id, event_type, payload, "
                        "created_at) VALUES (:id, :e, 'task_created', '{}', :t)"
                    ),
                    {"id": message, "e": ENROLLMENT, "t": T0},
                )
            connection.execute(
                text(
                    "INSERT INTO webhook_delivery (message_id, subscription_id, attempts, "
                    "next_attempt_at, delivered_at) VALUES ('msg-1', 1, 1, :t, :t), "
                    "('msg-2', 1, 3, :t, NULL)"
                ),
                {"t": T0},
            )
        upgrade(database_url)
        states = {(d.message_id, d.status, d.attempts) for d in _deliveries(engine)}
        assert states == {("msg-1", "delivered", 1), ("msg-2", "pending", 3)}
    finally:
        engine.dispose()
