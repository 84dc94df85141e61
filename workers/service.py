"""The workers' service: the handlers, over the database, with the settings read once here.

Celery tasks and the embedded worker run commands through it and nothing else: a job is
`service.handle(Command(...))`, so a worker's write is the same handler an API route's is.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import Engine

from pathways.service.bus import Service
from pathways.store.settings import settings


def worker_service(
    engine: Engine,
    enqueue: Callable[[int], None],
    interrupts: tuple[type[BaseException], ...] = (),
    backlog: Callable[[], int] = lambda: 0,
) -> Service:
    """A service for workers: quarantine and recovery as configured (CAREPATH_*)."""
    read = settings()
    return Service.on(
        engine,
        enqueue=enqueue,
        interrupts=interrupts,
        backlog=backlog,
        quarantine_after=max(1, read.quarantine_after),
        webhook_attempts=read.webhook_max_attempts,
        recover_after=timedelta(seconds=read.recover_after_seconds),
    )
