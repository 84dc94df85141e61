"""The schema comes from migrations alone: up from an empty database to head, and back down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import inspect, text
from sqlmodel import Session, SQLModel, select

from pathways.store.database import database_engine, downgrade, upgrade
from pathways.store.tables import Enrollment


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


def test_first_treatment_is_backfilled_from_the_treatment_steps_completed_before_0010(
    database_url: str,
) -> None:
    downgrade(database_url, "0009")
    engine = database_engine(database_url)
    t0 = datetime(2026, 10, 1, 13, tzinfo=UTC)
    moments = {"t0": t0, **{f"d{n}": t0 + timedelta(days=n) for n in range(1, 9)}}
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO pathway_definition (id, kind, pathway, version, title, modality,"
                    " content, content_hash, published_at, published_by) VALUES"
                    " (1, 'pathway', 'chemotherapy', 1, 'Chemo', 'chemotherapy', '', 'h', :t0, 'x')"
                ),
                moments,
            )
            connection.execute(
                text(
                    "INSERT INTO patient (id, mrn, display_name, created_at)"
                    " VALUES ('p', 'MRN-M', 'Pat', :t0)"
                ),
                moments,
            )
            for enrollment in ("chemo", "plan", "untreated"):
                connection.execute(
                    text(
                        "INSERT INTO enrollment (id, patient_id, definition_id, pathway,"
                        " pathway_version, parameters, patient_attributes, state, version,"
                        " status, flag, enrolled_at, updated_at) VALUES (:id, 'p', 1,"
                        " 'chemotherapy', 1, '{}', '{}', '{}', 1, 'active', 'on_track', :t0, :t0)"
                    ),
                    {**moments, "id": enrollment},
                )
            tasks = [  # (enrollment, pathway that ran the task, step, status, when)
                ("chemo", "chemotherapy@1", "infusion", "completed", "d5"),
                ("chemo", "chemotherapy@1", "infusion", "completed", "d3"),  # the first
                ("chemo", "chemotherapy@1", "infusion", "cancelled", "d1"),  # skipped
                ("chemo", "chemotherapy@1", "consent", "completed", "d1"),  # not a treatment
                ("plan", "surgery@1", "operation", "completed", "d8"),  # in a sub-pathway
                ("plan", "radiation_sbrt@1", "deliver_fraction", "completed", "d6"),
                ("untreated", "radiation_sbrt@1", "deliver_fraction", "ready", "d2"),
                ("untreated", "radiationXsbrt@1", "deliver_fraction", "completed", "d2"),
            ]
            for number, (enrollment, pathway, step, status, when) in enumerate(tasks):
                connection.execute(
                    text(
                        "INSERT INTO staff_task (id, enrollment_id, engine_task, step, pathway,"
                        " title, role, status, priority, priority_rank, due_at, instructions,"
                        " record_fields, created_at, updated_at) VALUES (:id, :e, :engine, :step,"
                        " :pathway, 'Task', 'nurse', :status, 'routine', 3, :t0, '', '[]', :t0,"
                        " :when)"
                    ),
                    {
                        "t0": t0,
                        "id": f"task-{number}",
                        "e": enrollment,
                        "engine": f"t{number}",
                        "step": step,
                        "pathway": pathway,
                        "status": status,
                        "when": moments[when],
                    },
                )
        upgrade(database_url)
        with Session(engine) as session:
            found = {row.id: row.first_treatment_at for row in session.exec(select(Enrollment))}
        assert found == {"chemo": moments["d3"], "plan": moments["d6"], "untreated": None}
    finally:
        engine.dispose()
