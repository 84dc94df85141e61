"""The rows an applied event writes, held back and sent as few statements as the database allows.

Applying an event touches up to eight tables (the task closed, the tasks opened with their
history, change-log and outbox rows, timers, the audit row, the event's processed marker and
the enrollment). Sent one statement per table and row, round trips and the ORM's unit of work
cost far more than the engine's step. Here each write is a SQLAlchemy Core statement and the
rows of one table share one multi-row INSERT; on PostgreSQL every statement then joins ONE
statement as data-modifying CTEs (`WITH a AS (UPDATE ...), b AS (INSERT ...) UPDATE ...`).
SQLite, which has no data-modifying CTEs, runs the same statements one after another.

All parts of a PostgreSQL statement see the database as it was when the statement began, so
a write that touches a row another held-back write creates or changes (a task opened, then
completed) first sends what is held: `key`s name the rows, and a repeated key splits.
Foreign keys are checked at the end of the statement, so a history row may point at a task
inserted beside it.
"""

from __future__ import annotations

from collections.abc import Hashable
from functools import cache
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.sql.dml import UpdateBase
from sqlmodel import Session


class PendingWrites:
    """Statements held for one send: updates in the order given, then one INSERT per table
    (parent tables first)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.combine = session.get_bind().dialect.name == "postgresql"
        self._updates: list[UpdateBase] = []
        self._rows: dict[Table, list[dict[str, Any]]] = {}
        self._keys: set[Hashable] = set()

    def _touch(self, key: Hashable | None) -> None:
        if key is None:
            return
        if key in self._keys:  # that row is written by a held statement: send those first
            self.send()
        self._keys.add(key)

    def update(self, statement: UpdateBase, key: Hashable | None = None) -> None:
        """Hold an UPDATE (or any statement whose row count nobody reads)."""
        self._touch(key)
        self._updates.append(statement)

    def insert(self, table: Table, row: dict[str, Any], key: Hashable | None = None) -> None:
        """Hold a row; rows of one table go in one INSERT, so give every row the same keys."""
        self._touch(key)
        self._rows.setdefault(table, []).append(row)

    def __bool__(self) -> bool:
        return bool(self._updates or self._rows)

    def send(self, guard: UpdateBase | None = None) -> int | None:
        """Execute what is held (and `guard`, last); the row count of `guard`, if given."""
        # parents before children (a task before its history): SQLite checks each statement
        tables = sorted(self._rows, key=_rank)
        statements = self._updates + [insert(table).values(self._rows[table]) for table in tables]
        self._updates, self._rows, self._keys = [], {}, set()
        if guard is not None:
            statements.append(guard)
        if not statements:
            return None
        if self.combine:  # one statement: the others ride along as CTEs
            *parts, main = statements
            for number, part in enumerate(parts):
                main = main.add_cte(part.cte(f"write_{number}"))
            statements = [main]
        for statement in statements:
            result = self.session.execute(statement)
        return result.rowcount if guard is not None else None  # type: ignore[attr-defined]


@cache
def _rank(table: Table) -> int:
    """Where a table comes in its metadata's foreign-key order (worked out once)."""
    return table.metadata.sorted_tables.index(table)
