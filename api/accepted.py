"""Events accepted for a worker: stored in one commit, enqueued only after it (202)."""

from collections.abc import Callable

from pydantic import BaseModel
from sqlalchemy import Engine

from pathways.store.tables import PathwayEvent
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork

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
        enqueue(row.id)  # after the commit: the message carries the id only
    return row, created
