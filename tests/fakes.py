"""Test doubles for the write side: a unit of work that needs no database server.

`FakeUnitOfWork` keeps its tables in an in-memory SQLite database shared by every unit it
opens (no server, no file), counts the commits its handlers make, and can be told to fail
the next commit, so a handler's one-commit and after-commit rules are checked in
milliseconds. `FakeBroker` is the worker nudge: it records each event id with the number of
commits made by the moment it was sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import SQLModel

from pathways.service.bus import Service
from pathways.service.context import fixed
from pathways.store.database import in_memory_engine
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork


class CommitRefused(Exception):
    """The fake's stand-in for a database that refuses a commit (disk full, failover)."""


@dataclass
class FakeDatabase:
    """The in-memory tables, and what the units of work opened on them did."""

    commits: int = 0
    refuse_next_commit: bool = False

    def __post_init__(self) -> None:
        self.engine = in_memory_engine()
        SQLModel.metadata.create_all(self.engine)

    def unit_of_work(self) -> FakeUnitOfWork:
        """A new unit of work on these tables."""
        return FakeUnitOfWork(self)


class FakeUnitOfWork(SqlAlchemyUnitOfWork):
    """A unit of work whose commits are counted, and refused when the test says so."""

    def __init__(self, database: FakeDatabase) -> None:
        super().__init__(database.engine)
        self.database = database

    def commit(self) -> None:
        if self.database.refuse_next_commit:
            self.database.refuse_next_commit = False
            raise CommitRefused("the database refused the commit")
        super().commit()
        self.database.commits += 1


@dataclass
class FakeBroker:
    """The worker nudge: (event id, commits made when it was sent), in order."""

    database: FakeDatabase
    sent: list[tuple[int, int]] = field(default_factory=list)
    down: bool = False

    def enqueue(self, event_id: int) -> None:
        if self.down:
            raise ConnectionError("the broker is down")
        self.sent.append((event_id, self.database.commits))


def fake_service(at: datetime) -> tuple[Service, FakeDatabase, FakeBroker]:
    """A service on fresh in-memory tables, a clock reading `at`, and a recording broker."""
    database = FakeDatabase()
    broker = FakeBroker(database)
    return Service(database.unit_of_work, fixed(at), broker.enqueue), database, broker
