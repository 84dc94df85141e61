"""The real API plus one bench-only route: a bare read of an enrollment by primary key.

Section 4 of the suite compares the progress endpoint with "a bare GET-by-primary-key
endpoint on the same stack". The API has no such endpoint, so the bench serves the real app
(`api.app.create_app`, with its middleware, token check and session dependency) and adds
`GET /bench/enrollments/{id}/bare`, which loads the row by primary key through the same
session and auth as `GET /enrollments/{id}` and answers a few columns: everything the progress
endpoint does except the engine's progress and projection. Only the bench serves it:

    CAREPATH_DATABASE_URL=... CAREPATH_ADMIN_TOKEN=... \\
        python -m uvicorn bench.bare_app:create --factory --port 8000
"""

import os
from datetime import datetime

from fastapi import FastAPI
from pydantic import BaseModel

from api.app import create_app
from api.deps import Reader, SessionDep
from api.logs import settled
from pathways.store.database import database_engine
from pathways.store.enrollments import NotFound
from pathways.store.settings import database_url
from pathways.store.tables import Enrollment

BARE_PATH = "/bench/enrollments/{enrollment_id}/bare"


class BareEnrollment(BaseModel):
    """A few stored columns of an enrollment: no engine work at all."""

    id: str
    pathway: str
    version: int
    status: str
    flag: str
    next_due_at: datetime | None
    updated_at: datetime


def _no_worker(event_id: int) -> None:
    """The bench only reads: nothing is ever enqueued."""
    raise RuntimeError(f"the polling bench posts no events (event {event_id})")


def create() -> FastAPI:
    """The API on CAREPATH_DATABASE_URL with CAREPATH_ADMIN_TOKEN, plus the bare route."""
    engine = database_engine(database_url())
    app = create_app(engine, _no_worker, os.environ["CAREPATH_ADMIN_TOKEN"])

    @app.get(BARE_PATH, tags=["bench"])
    def bare_enrollment(enrollment_id: str, who: Reader, db: SessionDep) -> BareEnrollment:
        """The enrollment row by primary key, as GET /enrollments/{id} loads it, unprojected."""
        enrollment = db.get(Enrollment, enrollment_id)
        if enrollment is None:
            raise NotFound(f"no enrollment {enrollment_id}")
        return BareEnrollment(
            id=enrollment.id,
            pathway=enrollment.pathway,
            version=enrollment.pathway_version,
            status=enrollment.status,
            flag=enrollment.flag,
            next_due_at=enrollment.next_due_at,
            updated_at=enrollment.updated_at,
        )

    return settled(app)  # as `carepath api` serves it
