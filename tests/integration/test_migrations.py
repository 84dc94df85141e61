"""The schema comes from migrations alone: up from an empty database to head, and back down."""

from __future__ import annotations

from sqlalchemy import inspect
from sqlmodel import SQLModel

import pathways.store.tables  # noqa: F401  (registers the models)
from pathways.store.database import database_engine, downgrade, upgrade


def test_migrations_build_every_table_and_index_the_models_declare_and_remove_them(
    database_url: str,
) -> None:
    # the fixture upgraded to head already; go down to nothing and up again
    downgrade(database_url)
    engine = database_engine(database_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(database_url)
    inspector = inspect(engine)
    assert set(SQLModel.metadata.tables) <= set(inspector.get_table_names())
    for name, table in SQLModel.metadata.tables.items():
        declared = {index.name for index in table.indexes}
        built = {index["name"] for index in inspector.get_indexes(name)}
        assert declared <= built, f"{name}: missing {declared - built}"
        columns = {column["name"] for column in inspector.get_columns(name)}
        assert set(table.columns.keys()) == columns, name
    engine.dispose()
