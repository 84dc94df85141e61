"""What every handler is given: units of work, the one clock, the worker nudge, the poster.

Built once at each composition root (the API app, a Celery worker, the embedded worker, the
command line, the demo, a benchmark). Nothing below the handlers reads the clock or commits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pathways.store.unit_of_work import SqlAlchemyUnitOfWork
from pathways.store.webhooks import Post, httpx_post

Clock = Callable[[], datetime]
Enqueue = Callable[[int], None]


def system_clock() -> datetime:
    """The time now, in UTC: every service's clock but a test's or the demo's."""
    return datetime.now(UTC)


def fixed(moment: datetime) -> Clock:
    """A clock that always reads `moment` (the demo replaying a course; tests)."""
    return lambda: moment


def nobody_to_tell(event_id: int) -> None:
    """For a service without workers (the command line): the recovery sweep applies events."""


@dataclass(frozen=True)
class Context:
    """How a handler opens a unit of work, reads the time and tells a worker of an event."""

    unit_of_work: Callable[[], SqlAlchemyUnitOfWork]
    clock: Clock = system_clock
    enqueue: Enqueue = nobody_to_tell
    post: Post = httpx_post
    # what ends a webhook run at once, counting no attempt (a Celery soft time limit)
    interrupts: tuple[type[BaseException], ...] = ()
    backlog: Callable[[], int] = lambda: 0  # messages waiting for a worker (group commit)
    webhook_attempts: int = 12  # posts of a delivery before it is dead (a dead letter)
    quarantine_after: int = 5  # failed applications before an event waits for an admin
    recover_after: timedelta = timedelta(seconds=30)  # unapplied this long: its message is lost
