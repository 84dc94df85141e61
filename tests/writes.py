"""The write side for tests that drive it directly: commands run by their one handler.

A test that stands in for a worker applies an event as the Celery task does, through the
ApplyEvents handler, over the test's own database engine.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine

from pathways.service.bus import Service
from pathways.service.commands import ApplyEvents, PublishLibrary, RefreshProjections
from pathways.service.context import system_clock
from pathways.store.applying import Applied
from tests.conftest import DEFINITIONS
from workers.service import worker_service


def now() -> datetime:
    """The clock the API and the workers read."""
    return system_clock()


def apply(engine: Engine, event_id: int, backlog: int = 0) -> Applied:
    """Apply an event (and those before it in its enrollment) as a worker does, with the
    settings read now (CAREPATH_QUARANTINE_AFTER...)."""
    service = worker_service(engine, lambda _event: None)
    return service.handle(ApplyEvents(event_id=event_id, backlog=backlog))


def refresh_projections(engine: Engine) -> int:
    """Project the courses whose projection lags, as the sweep does."""
    return Service.on(engine).handle(RefreshProjections())


DRILL = Path(__file__).parent / "integration" / "definitions" / "worker_drill.yaml"


def publish_drill(engine: Engine) -> None:
    """Publish the clinic calendar and the workers' drill pathway that runs on it."""
    clinic = DEFINITIONS / "calendars" / "clinic.yaml"
    Service.on(engine).handle(PublishLibrary(paths=(str(clinic), str(DRILL)), actor="t"))
