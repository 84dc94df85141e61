"""The Celery app (distributed mode): built from settings, thin tasks over workers.jobs.

Three queues, so that no kind of work can starve another: `events` (applying events: scale
these workers), `sweeps` (timers, recovery, escalation, outbox fan-out: short and bounded) and
`deliveries` (webhook posts, which wait on receivers we do not control). Every task has a soft
and a hard time limit suited to it; the limits need the prefork pool (`carepath worker` uses it).

Messages carry ids only. Pathway time never uses eta/countdown: timers are rows that the
beat sweep fires. acks_late + reject_on_worker_lost + prefetch 1 are safe because every
job is idempotent: a message redelivered after a crash finds its work already done.
"""

from __future__ import annotations

from functools import cache

from celery import Celery
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy import Engine

from pathways.store.database import database_engine
from pathways.store.settings import broker_url, database_url
from pathways.store.webhooks import BATCH, POST_TIMEOUT_SECONDS
from workers import jobs

QUEUES = ("events", "sweeps", "deliveries")
ROUTES = {
    "carepath.apply_event": "events",
    "carepath.fire_timers": "sweeps",
    "carepath.recover": "sweeps",
    "carepath.escalate": "sweeps",
    "carepath.dispatch": "sweeps",
    "carepath.deliver": "deliveries",
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
    # A sweep message not picked up before its next run is useless: let it expire instead
    # of piling up while workers are away.
    beat_schedule={
        "fire-due-timers": {
            "task": "carepath.fire_timers",
            "schedule": 1.0,
            "options": {"expires": 5},
        },
        "recover-lost-events": {
            "task": "carepath.recover",
            "schedule": 5.0,
            "options": {"expires": 10},
        },
        "escalate-overdue-tasks": {
            "task": "carepath.escalate",
            "schedule": 60.0,
            "options": {"expires": 60},
        },
        "dispatch-notifications": {
            "task": "carepath.dispatch",
            "schedule": 5.0,
            "options": {"expires": 10},
        },
        "deliver-notifications": {
            "task": "carepath.deliver",
            "schedule": 5.0,
            "options": {"expires": 10},
        },
    },
)


@cache
def _engine() -> Engine:
    return database_engine(database_url())


def enqueue_event(event_id: int) -> None:
    """Ask a worker to apply an event (call only after the event's commit)."""
    apply_event.delay(event_id)


@app.task(name="carepath.apply_event", soft_time_limit=EVENT_LIMITS[0], time_limit=EVENT_LIMITS[1])
def apply_event(event_id: int) -> str:
    """Apply one stored event to its enrollment."""
    return jobs.apply(_engine(), event_id).outcome


@app.task(name="carepath.fire_timers", soft_time_limit=SWEEP_LIMITS[0], time_limit=SWEEP_LIMITS[1])
def fire_timers() -> int:
    """Beat, every second: due timers become events."""
    return jobs.fire_timers(_engine(), enqueue_event)


@app.task(name="carepath.recover", soft_time_limit=SWEEP_LIMITS[0], time_limit=SWEEP_LIMITS[1])
def recover() -> int:
    """Beat: events left unprocessed are enqueued again."""
    return jobs.recover(_engine(), enqueue_event)


@app.task(name="carepath.escalate", soft_time_limit=SWEEP_LIMITS[0], time_limit=SWEEP_LIMITS[1])
def escalate() -> int:
    """Beat: overdue tasks escalate to the navigator."""
    return jobs.escalate(_engine())


@app.task(name="carepath.dispatch", soft_time_limit=SWEEP_LIMITS[0], time_limit=SWEEP_LIMITS[1])
def dispatch() -> int:
    """Beat: new outbox messages fan out into deliveries, one per matching subscriber."""
    return jobs.dispatch(_engine())


@app.task(
    name="carepath.deliver", soft_time_limit=DELIVERY_LIMITS[0], time_limit=DELIVERY_LIMITS[1]
)
def deliver() -> int:
    """Beat: due deliveries are posted to webhook subscribers."""
    # The soft limit ends the run mid-post without counting an attempt against the receiver.
    return jobs.deliver(_engine(), interrupts=(SoftTimeLimitExceeded,))
