"""Database engines: SQLite (embedded default, WAL) or PostgreSQL, and schema migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import StaticPool

MIGRATIONS = Path(__file__).parent / "migrations"


def database_engine(url: str) -> Engine:
    """An engine for a database URL, configured for the engine's write pattern."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    # hide_parameters: a logged database error must not carry state or recorded data (PHI).
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5, hide_parameters=True)


def in_memory_engine() -> Engine:
    """One in-memory SQLite database that every session shares (fakes, throwaway runs),
    with the same transaction handling as a SQLite file."""
    engine = create_engine("sqlite://", poolclass=StaticPool, hide_parameters=True)
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", _sqlite_begin_immediate)
    return engine


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    # Python's sqlite3 opens transactions itself; hand that to SQLAlchemy's "begin" event.
    connection.isolation_level = None
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin_immediate(connection: Any) -> None:
    # One writer at a time, taken at the start of the transaction: a read-then-write
    # transaction never fails half way with "database is locked". Reads (see `reading`)
    # begin deferred: in WAL mode they never block a writer nor wait for one.
    if connection.get_execution_options().get("carepath_read_only"):
        connection.exec_driver_sql("BEGIN")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def reading(engine: Engine) -> Engine:
    """The same database for read-only work: on SQLite it takes no write lock; on PostgreSQL
    it runs in autocommit, so a read costs no BEGIN and no ROLLBACK round trip (at READ
    COMMITTED, the default, each statement sees its own snapshot either way)."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(carepath_read_only=True, isolation_level="AUTOCOMMIT")
    return engine.execution_options(carepath_read_only=True)


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema to `revision` (Alembic)."""
    from alembic import command

    command.upgrade(_alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    """Take the schema back to `revision` (Alembic)."""
    from alembic import command

    command.downgrade(_alembic_config(url), revision)


def _alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config
