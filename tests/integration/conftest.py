"""Database fixtures: every integration test runs on SQLite and on PostgreSQL.

PostgreSQL is used whenever one is reachable (CAREPATH_TEST_POSTGRES_URL, default the local
server); under CI=true it must be, and the tests fail rather than skip. Each test session
gets a database of its own, created and dropped here, so the shared server is never touched.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from pathways.store.database import database_engine, upgrade
from pathways.store.definitions import forget_compiled

POSTGRES_ADMIN_URL = os.environ.get(
    "CAREPATH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _postgres_reachable() -> str | None:
    try:
        engine = create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
    except Exception as error:  # any failure to connect means "not reachable"
        return f"{type(error).__name__}: {str(error).splitlines()[0]}"
    return None


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    problem = _postgres_reachable()
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(
                f"PostgreSQL must be reachable under CI=true ({POSTGRES_ADMIN_URL}): {problem}"
            )
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {problem}")
    name = f"carepath_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with admin.connect() as connection:
        connection.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
            {"name": name},
        )
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database: SQLite in a temporary folder, or PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'carepath.db'}"
        upgrade(url)
        yield url
        return
    url = request.getfixturevalue("postgres_url")
    upgrade(url)
    yield url
    _emptied(url)


def _emptied(url: str) -> None:
    """Every table of the test session's PostgreSQL database emptied for the next test."""
    engine = database_engine(url)
    with engine.begin() as connection:
        tables = [
            row[0]
            for row in connection.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'alembic_version'"
                )
            )
        ]
        if tables:
            connection.execute(
                text(
                    "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
                )
            )
    engine.dispose()
    forget_compiled()  # the next test reuses this database's row ids for other definitions


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on the migrated database."""
    engine = database_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def pg(postgres_url: str) -> Iterator[Engine]:
    """A migrated PostgreSQL database with the shipped library published (PostgreSQL only)."""
    from pathways.store.definitions import publish_directory
    from pathways.store.unit_of_work import SqlAlchemyUnitOfWork
    from tests.conftest import DEFINITIONS, toronto

    upgrade(postgres_url)
    engine = database_engine(postgres_url)
    with SqlAlchemyUnitOfWork(engine) as uow:
        publish_directory(uow.session, DEFINITIONS, "informaticist", toronto(2026, 11, 23, 9, 0))
        uow.commit()
    yield engine
    engine.dispose()
    _emptied(postgres_url)


# The API client fixture, for the tests of the HTTP API.
from tests.integration.api_support import api  # noqa: E402, F401
