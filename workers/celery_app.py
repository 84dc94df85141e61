"""The Celery app (distributed mode): built from settings, thin tasks over workers.jobs.

Messages carry ids only. Pathway time never uses eta/countdown: timers are rows that the
beat sweep fires. acks_late + reject_on_worker_lost + prefetch 1 are safe because every
job is idempotent: a message redelivered after a crash finds its work already done.
"""

from __future__ import annotations

import logging
from functools import cache

from celery import Celery, signals
from sqlalchemy import Engine

from pathways.store import logs
from pathways.store.database import database_engine
from pathways.store.settings import broker_url, database_url
from workers import jobs

app = Celery("carepath")
app.conf.update(
    broker_url=broker_url(),
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
        "deliver-notifications": {
            "task": "carepath.deliver",
            "schedule": 5.0,
            "options": {"expires": 10},
        },
    },
)


@signals.setup_logging.connect
def _scrubbed_logs(loglevel: int | str | None = None, **_: object) -> None:
    # Celery's own set-up prints a failed task's database error as it comes, PostgreSQL's
    # DETAIL line (stored values) and all: workers and beat log through ours instead.
    level = logging.getLevelName(loglevel) if isinstance(loglevel, int) else loglevel
    logs.configure(level or "INFO")


@cache
def _engine() -> Engine:
    return database_engine(database_url())


def enqueue_event(event_id: int) -> None:
    """Ask a worker to apply an event (call only after the event's commit)."""
    apply_event.delay(event_id)


@app.task(name="carepath.apply_event")
def apply_event(event_id: int) -> str:
    """Apply one stored event to its enrollment."""
    return jobs.apply(_engine(), event_id).outcome


@app.task(name="carepath.fire_timers")
def fire_timers() -> int:
    """Beat, every second: due timers become events."""
    return jobs.fire_timers(_engine(), enqueue_event)


@app.task(name="carepath.recover")
def recover() -> int:
    """Beat: events left unprocessed are enqueued again."""
    return jobs.recover(_engine(), enqueue_event)


@app.task(name="carepath.escalate")
def escalate() -> int:
    """Beat: overdue tasks escalate to the navigator."""
    return jobs.escalate(_engine())


@app.task(name="carepath.deliver")
def deliver() -> int:
    """Beat: outbox notifications go to webhook subscribers."""
    return jobs.deliver(_engine())
