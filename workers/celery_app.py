"""The Celery app (distributed mode): built from settings, thin tasks over the handlers.

Three queues, so that no kind of work can starve another: `events` (applying events: scale
these workers), `sweeps` (timers, recovery, escalation, outbox fan-out: short and bounded) and
`deliveries` (webhook posts, which wait on receivers we do not control). Every task has a soft
and a hard time limit suited to it; the limits need the prefork pool (`carepath worker` uses it).

Messages carry ids only. Pathway time never uses eta/countdown: timers are rows that the
beat sweep fires. acks_late + reject_on_worker_lost + prefetch 1 are safe because every
job is idempotent: a message redelivered after a crash finds its work already done.
"""

from __future__ import annotations

import logging
from functools import cache

from celery import Celery, signals
from celery.exceptions import SoftTimeLimitExceeded

from pathways.service.bus import Service
from pathways.service.commands import ApplyEvents
from pathways.store import logs
from pathways.store.database import database_engine
from pathways.store.settings import broker_url, database_url
from pathways.store.webhooks import BATCH, POST_TIMEOUT_SECONDS
from workers import QUEUES
from workers.service import worker_service
from workers.sweeps import SWEEPS, Sweep

__all__ = ["QUEUES", "ROUTES", "app", "enqueue_event"]
ROUTES = {"carepath.apply_event": "events"} | {
    f"carepath.{sweep.name}": sweep.queue for sweep in SWEEPS
}
# (soft, hard) seconds. The soft limit raises inside the job, which rolls its unit of work
# back; the hard one kills the child process. Redelivery after either is safe (idempotent jobs).
EVENT_LIMITS = (30, 60)  # one event: milliseconds normally; minutes means a stuck lock
SWEEP_LIMITS = (45, 60)  # a bounded batch (500 timers, events, tasks or messages)
# A run posts at most BATCH deliveries, each bounded by the HTTP timeout; the per-delivery
# lease (webhooks.LEASE) covers a run killed mid-post.
DELIVERY_SOFT = int(BATCH * POST_TIMEOUT_SECONDS) + 30
DELIVERY_LIMITS = (DELIVERY_SOFT, DELIVERY_SOFT + 30)

app = Celery("carepath")
app.conf.update(
    broker_url=broker_url(),
    task_default_queue="events",
    task_routes={name: {"queue": queue} for name, queue in ROUTES.items()},
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    # Redis redelivers an unacknowledged message after this; jobs are short, so an hour
    # only matters for a worker that died holding one, which recovery covers sooner.
    broker_transport_options={"visibility_timeout": 3600},
    worker_hijack_root_logger=False,
    # A sweep message not picked up before its next run is useless: it expires (workers.sweeps).
    beat_schedule={
        sweep.name: {
            "task": f"carepath.{sweep.name}",
            "schedule": sweep.every,
            "options": {"expires": sweep.expires},
        }
        for sweep in SWEEPS
    },
)


@signals.setup_logging.connect
def _scrubbed_logs(loglevel: int | str | None = None, **_: object) -> None:
    # Celery's own set-up prints a failed task's database error as it comes, PostgreSQL's
    # DETAIL line (stored values) and all: workers and beat log through ours instead.
    level = logging.getLevelName(loglevel) if isinstance(loglevel, int) else loglevel
    logs.configure(level or "INFO")


@cache
def _service() -> Service:
    # A soft time limit ends a webhook run at once, counting no attempt (its lease expires).
    engine = database_engine(database_url())
    return worker_service(
        engine, enqueue_event, interrupts=(SoftTimeLimitExceeded,), backlog=_backlog
    )


def enqueue_event(event_id: int) -> None:
    """Ask a worker to apply an event (call only after the event's commit)."""
    apply_event.delay(event_id)


@app.task(name="carepath.apply_event", soft_time_limit=EVENT_LIMITS[0], time_limit=EVENT_LIMITS[1])
def apply_event(event_id: int) -> str:
    """Apply one stored event (and those before it in its enrollment), with group commit."""
    return _service().handle(ApplyEvents(event_id=event_id)).outcome


def _backlog() -> int:
    """Messages waiting in the events queue (one LLEN on Redis); 0 when it cannot be told."""
    try:
        with app.pool.acquire(block=True) as connection:
            client = getattr(connection.default_channel, "client", None)
            return int(client.llen("events")) if client is not None else 0
    except Exception:  # a broker we cannot ask: apply alone, as when idle
        return 0


def _register(sweep: Sweep) -> None:
    soft, hard = DELIVERY_LIMITS if sweep.queue == "deliveries" else SWEEP_LIMITS

    def run() -> int:
        return sweep.run(_service())

    run.__name__, run.__doc__ = sweep.name, f"Beat, every {sweep.every:g} s: {sweep.what}"
    app.task(name=f"carepath.{sweep.name}", soft_time_limit=soft, time_limit=hard)(run)


for _sweep in SWEEPS:
    _register(_sweep)
