"""The unit of work: one session, one commit; rolled back unless committed."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import Engine
from sqlmodel import Session


class SqlAlchemyUnitOfWork:
    """Opens a session; `commit()` ends the unit, leaving the block without it rolls back."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __enter__(self) -> SqlAlchemyUnitOfWork:
        self.session = Session(self.engine, expire_on_commit=False)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        # Closing rolls back whatever was not committed, and detaches the rows read as they
        # are (a rollback would expire them): a handler may answer with what it found.
        self.session.close()

    def commit(self) -> None:
        """Make everything done in this unit durable, at once."""
        self.session.commit()

    @property
    def locks_rows(self) -> bool:
        """PostgreSQL takes row locks; SQLite serialises writers for the whole database."""
        return self.engine.dialect.name == "postgresql"
