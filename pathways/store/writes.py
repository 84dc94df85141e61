"""The rows an applied event writes, held back and sent as few statements as the database allows.

Applying an event touches up to eight tables (the task closed, the tasks opened with their
history, change-log and outbox rows, timers, the audit row, the event's processed marker and
the enrollment). Sent one statement per table and row, round trips and the ORM's unit of work
cost far more than the engine's step. Here each write is a SQLAlchemy Core statement and the
rows of one table share one INSERT; on PostgreSQL every statement then joins ONE statement as
data-modifying CTEs (`WITH a AS (UPDATE ...), b AS (INSERT ...) UPDATE ...`). SQLite, which
has no data-modifying CTEs, runs the same statements one after another.

Statements are built from bound parameters once per shape (which statements, how many rows of
which table) and kept: a later event of the same shape only binds its values, so neither the
statement nor its SQLAlchemy cache key is built again.

All parts of a PostgreSQL statement see the database as it was when the statement began, so
a write that touches a row another held-back write creates or changes (a task opened, then
completed) first sends what is held: `key`s name the rows, and a repeated key splits.
Foreign keys are checked at the end of the statement, so a history row may point at a task
inserted beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Executable,
    Insert,
    Table,
    bindparam,
    insert,
    select,
    union_all,
)
from sqlmodel import Session

TEMPLATES_KEPT = 512  # statement shapes kept per process; past that the store starts afresh


@dataclass(frozen=True)
class Bound:
    """A statement or an expression made once per `shape` by `build(prefix)` from bound
    parameters named prefix + each key of `values`, then reused with new values."""

    shape: Hashable
    build: Callable[[str], Any]
    values: Mapping[str, Any]


_TEMPLATES: dict[Hashable, list[Executable]] = {}


class PendingWrites:
    """Statements held for one send: updates in the order given, then one INSERT per table
    (parent tables first). A row's value may be a `Bound` expression (a subquery)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.combine = session.get_bind().dialect.name == "postgresql"
        self._updates: list[Bound] = []
        self._rows: dict[Table, list[dict[str, Any]]] = {}
        self._keys: set[Hashable] = set()

    def _touch(self, key: Hashable | None) -> None:
        if key is None:
            return
        if key in self._keys:  # that row is written by a held statement: send those first
            self.send()
        self._keys.add(key)

    def update(self, statement: Bound, key: Hashable | None = None) -> None:
        """Hold an UPDATE (or any statement whose row count nobody reads)."""
        self._touch(key)
        self._updates.append(statement)

    def insert(self, table: Table, row: dict[str, Any], key: Hashable | None = None) -> None:
        """Hold a row; rows of one table go in one INSERT, so give every row the same keys."""
        self._touch(key)
        self._rows.setdefault(table, []).append(row)

    def __bool__(self) -> bool:
        return bool(self._updates or self._rows)

    def send(self, guard: Bound | None = None) -> int | None:
        """Execute what is held (and `guard`, last); the row count of `guard`, if given."""
        updates, guards = self._updates, [guard] if guard is not None else []
        tables = sorted(self._rows, key=_rank)  # parents first: SQLite checks each statement
        rows = [(table, self._rows[table]) for table in tables]
        self._updates, self._rows, self._keys = [], {}, set()
        if not (updates or rows or guards):
            return None
        shape = (
            self.combine,
            tuple(update.shape for update in updates),
            tuple((table.name, tuple(map(_row_shape, table_rows))) for table, table_rows in rows),
            tuple(g.shape for g in guards),
        )
        statements = _TEMPLATES.get(shape)
        if statements is None:
            statements = _build(self.combine, updates, rows, guards)
            if len(_TEMPLATES) >= TEMPLATES_KEPT:
                _TEMPLATES.clear()
            _TEMPLATES[shape] = statements
        values = _values(updates, rows, guards)
        for statement in statements:
            result = self.session.execute(statement, values)
        return result.rowcount if guard is not None else None  # type: ignore[attr-defined]


def _row_shape(row: dict[str, Any]) -> tuple[tuple[str, Hashable], ...]:
    return tuple(
        (name, value.shape if isinstance(value, Bound) else None) for name, value in row.items()
    )


def _build(
    combine: bool,
    updates: list[Bound],
    rows: list[tuple[Table, list[dict[str, Any]]]],
    guards: list[Bound],
) -> list[Executable]:
    statements: list[Any] = [update.build(f"u{n}_") for n, update in enumerate(updates)]
    statements += [
        _insert(table, table_rows, f"i{n}_") for n, (table, table_rows) in enumerate(rows)
    ]
    statements += [guard.build("g_") for guard in guards]
    if not combine:
        return statements
    *parts, main = statements  # one statement: the others ride along as CTEs
    for number, part in enumerate(parts):
        main = main.add_cte(part.cte(f"write_{number}"))
    return [main]


def _values(
    updates: list[Bound], rows: list[tuple[Table, list[dict[str, Any]]]], guards: list[Bound]
) -> dict[str, Any]:
    """The parameters of a send, named as `_build` named them."""
    values: dict[str, Any] = {}
    for n, update in enumerate(updates):
        _flatten(values, f"u{n}_", update.values)
    for n, (_, table_rows) in enumerate(rows):
        for r, row in enumerate(table_rows):
            _flatten(values, f"i{n}_{r}_", row)
    for guard in guards:
        _flatten(values, "g_", guard.values)
    return values


def _flatten(into: dict[str, Any], prefix: str, values: Mapping[str, Any]) -> None:
    """Each value under prefix + its name; a `Bound` one's own values under prefix + name_."""
    for name, value in values.items():
        if isinstance(value, Bound):
            _flatten(into, f"{prefix}{name}_", value.values)
        else:
            into[prefix + name] = value


def _insert(table: Table, rows: list[dict[str, Any]], prefix: str) -> Insert:
    """`INSERT INTO table (...) SELECT ... UNION ALL SELECT ...`: one statement for all rows.

    Not `insert().values([...])`: SQLAlchemy does not cache the compiled form of a multi-row
    VALUES. Each value is a bound parameter of its column's type, or a `Bound` expression."""
    columns = list(rows[0])
    selects = [
        select(*(_value(table.c[name], f"{prefix}{r}_", value) for name, value in row.items()))
        for r, row in enumerate(rows)
    ]
    return insert(table).from_select(
        columns, selects[0] if len(selects) == 1 else union_all(*selects)
    )


def _value(column: ColumnElement[Any], prefix: str, value: Any) -> ColumnElement[Any]:
    """A column's value in a statement: a bound parameter of its type, or a `Bound` one."""
    if isinstance(value, Bound):
        expression: ColumnElement[Any] = value.build(f"{prefix}{column.key}_")
        return expression
    return bindparam(prefix + str(column.key), type_=column.type)


def bound_update(
    table: Table,
    where: Mapping[str, Any],
    values: Mapping[str, Any],
    unless_set: tuple[str, ...] = (),
) -> Bound:
    """`UPDATE table SET values WHERE` each `where` column equals its value and each column of
    `unless_set` IS NULL; a value may be a `Bound` expression."""
    shape = (
        "update",
        table.name,
        tuple(where),
        tuple((name, v.shape if isinstance(v, Bound) else None) for name, v in values.items()),
        unless_set,
    )
    expressions = {name: v for name, v in values.items() if isinstance(v, Bound)}

    def build(prefix: str) -> Any:
        conditions = [table.c[name] == bindparam(f"{prefix}w_{name}") for name in where]
        conditions += [table.c[name].is_(None) for name in unless_set]
        new = {name: _value(table.c[name], f"{prefix}v_", expressions.get(name)) for name in values}
        return table.update().where(*conditions).values(new)

    return Bound(shape, build, {**_named("w_", where), **_named("v_", values)})


def _named(prefix: str, values: Mapping[str, Any]) -> dict[str, Any]:
    return {prefix + name: value for name, value in values.items()}


@cache
def _rank(table: Table) -> int:
    """Where a table comes in its metadata's foreign-key order (worked out once)."""
    return table.metadata.sorted_tables.index(table)
