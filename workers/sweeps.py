"""What beat runs, and how often: one registry for Celery beat and the embedded worker.

Each sweep is a command run by its handler (pathways/service/sweeps.py, webhooks.py); Celery
registers a task per sweep (`carepath.<name>`, on the sweep's queue, with its time limits)
and schedules it, and the embedded worker's beat thread runs the same list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import ValidationError

from pathways.service.bus import Service
from pathways.service.commands import (
    DeliverWebhooks,
    DispatchOutbox,
    EscalateOverdueTasks,
    FireDueTimers,
    RefreshDashboardSummary,
    RefreshProjections,
    RequeueLostEvents,
)
from pathways.store.settings import Settings, settings


@dataclass(frozen=True)
class Sweep:
    """A periodic job: its name, period, what it does, and the queue it runs on."""

    name: str
    every: float  # seconds
    run: Callable[[Service], int]
    what: str
    queue: str = "sweeps"

    @property
    def expires(self) -> float:
        """A message not run by its next turn is useless: let it expire, not pile up."""
        return max(5.0, self.every)


def summary_every() -> float:
    """CAREPATH_DASHBOARD_SUMMARY_SECONDS, read when the registry is built (at import).

    A wrong value of any setting is not raised here, at import: the command that starts
    (`carepath up`, `worker`, `beat`) reads the settings and names the one to fix."""
    try:
        return settings().dashboard_summary_seconds
    except ValidationError:
        default: float = Settings.model_fields["dashboard_summary_seconds"].default
        return default


def _summarise(service: Service) -> int:
    service.handle(RefreshDashboardSummary())
    return 1


SWEEPS: tuple[Sweep, ...] = (
    Sweep(
        "fire_timers",
        1.0,
        lambda service: service.handle(FireDueTimers()),
        "Due timers become events.",
    ),
    Sweep(
        "recover",
        5.0,
        lambda service: service.handle(RequeueLostEvents()),
        "Events left unprocessed are enqueued again.",
    ),
    Sweep(
        "refresh_projections",
        1.0,
        lambda service: service.handle(RefreshProjections()),
        "Course projections that lag their enrollment's state are refreshed.",
    ),
    Sweep(
        "escalate",
        60.0,
        lambda service: service.handle(EscalateOverdueTasks()),
        "Overdue tasks escalate to the navigator.",
    ),
    Sweep(
        "dashboard_summary",
        summary_every(),
        _summarise,
        "The dashboard's figures are computed and stored for GET /dashboard to read.",
    ),
    Sweep(
        "dispatch",
        5.0,
        lambda service: service.handle(DispatchOutbox()),
        "New outbox messages fan out into one delivery per matching subscriber.",
    ),
    Sweep(
        "deliver",
        5.0,
        lambda service: service.handle(DeliverWebhooks()).delivered,
        "Due deliveries are posted to webhook subscribers.",
        queue="deliveries",
    ),
)
