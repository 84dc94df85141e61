"""The FastAPI app: health, enrollments and their events, behind a bearer token.

A first slice: issue 6 grows it into the navigator, staff and dashboard API. Blocking
database calls live in plain `def` routes (FastAPI runs them in a thread pool).
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at run time.

import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException
from pydantic import BaseModel, Field
from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from pathways.runtime.events import EventRejected
from pathways.store.enrollments import NotFound, record_event
from pathways.store.tables import Enrollment
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork

Enqueue = Callable[[int], None]


class EventIn(BaseModel):
    """An event for an enrollment: its type, data and the caller's idempotency key."""

    type: str = Field(min_length=1, max_length=60)
    data: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str = Field(min_length=1, max_length=200)


class EnrollmentSummary(BaseModel):
    """One line of the enrollment list."""

    id: str
    pathway: str
    version: int
    status: str
    flag: str
    next_due_at: datetime | None


def create_app(engine: Engine, enqueue: Enqueue, admin_token: str) -> FastAPI:
    """The app, wired to a database, a way to enqueue events, and the admin token."""
    app = FastAPI(
        title="carepath", version="0.1.0", description="Care pathways for spinal-cancer treatment"
    )
    expected = hashlib.sha256(admin_token.encode()).digest()

    def actor(authorization: Annotated[str | None, Header()] = None) -> str:
        scheme, _, token = (authorization or "").partition(" ")
        given = hashlib.sha256(token.encode()).digest()
        if scheme.lower() != "bearer" or not hmac.compare_digest(given, expected):
            raise HTTPException(
                401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"}
            )
        return "admin"

    Actor = Annotated[str, Depends(actor)]

    @app.get("/health")
    def health() -> dict[str, str]:
        """Liveness and database reachability (no authentication)."""
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as error:
            raise HTTPException(503, "the database is not reachable") from error
        return {"status": "ok"}

    @app.get("/enrollments")
    def enrollments(who: Actor) -> list[EnrollmentSummary]:
        """Enrollments, soonest due first."""
        with Session(engine) as session:
            rows = session.exec(
                select(Enrollment)
                .order_by(col(Enrollment.next_due_at).is_(None), col(Enrollment.next_due_at))
                .limit(200)
            )
            return [
                EnrollmentSummary(
                    id=row.id,
                    pathway=row.pathway,
                    version=row.pathway_version,
                    status=row.status,
                    flag=row.flag,
                    next_due_at=row.next_due_at,
                )
                for row in rows
            ]

    @app.post("/enrollments/{enrollment_id}/events", status_code=202)
    def post_event(enrollment_id: str, event: EventIn, who: Actor) -> dict[str, Any]:
        """Store an event (once per idempotency key) and have a worker apply it."""
        with SqlAlchemyUnitOfWork(engine) as uow:
            try:
                row, created = record_event(
                    uow,
                    enrollment_id,
                    event.type,
                    event.data,
                    event.idempotency_key,
                    who,
                    datetime.now(UTC),
                )
            except NotFound as missing:
                raise HTTPException(404, str(missing)) from None
            except EventRejected as rejected:
                raise HTTPException(422, rejected.reason) from None
            uow.commit()
        assert row.id is not None
        if created:
            enqueue(row.id)  # after the commit: the message carries the id only
        return {"event": row.id, "created": created}

    return app
