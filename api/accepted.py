"""Events accepted for a worker: stored in one commit, enqueued only after it (202)."""

import logging
from collections.abc import Callable

from pydantic import BaseModel
from sqlalchemy import Engine

from pathways.store.tables import PathwayEvent
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork

log = logging.getLogger("carepath.api")
Record = Callable[[SqlAlchemyUnitOfWork], tuple[PathwayEvent, bool]]


class EventAccepted(BaseModel):
    """The stored event's id, and whether this request created it (a retry did not)."""

    event: int
    created: bool


def record_then_enqueue(
    engine: Engine, enqueue: Callable[[int], None], record: Record
) -> tuple[PathwayEvent, bool]:
    """Store an event with `record`, commit, then ask a worker to apply it if it is new."""
    with SqlAlchemyUnitOfWork(engine) as uow:
        row, created = record(uow)
        uow.commit()
    assert row.id is not None
    if created:
        try:
            enqueue(row.id)  # after the commit: the message carries the id only
        except Exception as error:
            # The event is committed, so the answer is still 202: the recovery sweep
            # enqueues unprocessed events again once the broker is back.
            log.warning(
                "event %s of enrollment %s is stored but not enqueued (%s); "
                "the recovery sweep will enqueue it",
                row.id,
                row.enrollment_id,
                type(error).__name__,
            )
    return row, created
