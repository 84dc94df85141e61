"""A test client for the API on a migrated database (SQLite and PostgreSQL), with tokens."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import create_app
from pathways.store.definitions import publish_directory
from pathways.store.enrollments import enrol, register_patient
from pathways.store.tokens import issue_token
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork
from tests import writes
from tests.conftest import DEFINITIONS

ADMIN_TOKEN = "test-admin-token-0123456789abcdef"
ROLES = ("navigator", "dashboard", "lab", "oncology_nurse", "radiology")


@dataclass
class Api:
    """The client, a token per role, and the events waiting for a worker."""

    client: TestClient
    engine: Engine
    tokens: dict[str, str]
    queued: list[int] = field(default_factory=list)

    def headers(self, role: str) -> dict[str, str]:
        """Authorization for a role ('admin' uses the admin token)."""
        token = ADMIN_TOKEN if role == "admin" else self.tokens[role]
        return {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, role: str = "navigator", **kwargs: Any) -> Any:
        """A request as `role` (extra `headers` are added); the httpx response."""
        headers = {**self.headers(role), **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def enrolled(
        self,
        mrn: str = "MRN-A1",
        pathway: str = "chemotherapy",
        patient: dict[str, Any] | None = None,
        now: datetime | None = None,
    ) -> str:
        """A registered patient enrolled through the store (at `now`, default the clock)."""
        with SqlAlchemyUnitOfWork(self.engine) as uow:
            person = register_patient(uow, mrn, f"Patient {mrn}", "kim", writes.now())
            enrollment = enrol(
                uow, person.id, pathway, None, {}, patient or {}, "kim", now or writes.now()
            )
            uow.commit()
        return enrollment.id

    def work(self) -> int:
        """Apply every queued event, as a worker would, then the projection sweep; how many."""
        done = 0
        while self.queued:
            writes.apply(self.engine, self.queued.pop(0))
            done += 1
        writes.refresh_projections(self.engine)
        return done


@pytest.fixture
def api(engine: Engine) -> Iterator[Api]:
    """The API on a fresh database with the shipped library published."""
    with SqlAlchemyUnitOfWork(engine) as uow:
        publish_directory(uow.session, DEFINITIONS, "informaticist", writes.now())
        tokens = {
            role: issue_token(uow.session, role, f"{role}.tester", writes.now()) for role in ROLES
        }
        uow.commit()
    queued: list[int] = []
    app = create_app(engine, queued.append, ADMIN_TOKEN)
    with TestClient(app) as client:
        yield Api(client, engine, tokens, queued)
