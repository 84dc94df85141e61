"""The queue queries staff and dashboards run are answered from their named indexes."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlmodel import Session

from pathways.store.database import database_engine, upgrade
from pathways.store.staff_tasks import queue
from tests.conftest import toronto

NOW = toronto(2026, 11, 23, 9, 0)


def _plan(session: Session, statement: object) -> str:
    compiled = statement.compile(  # type: ignore[attr-defined]
        dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
    )
    session.execute(text("SET enable_seqscan = off"))
    rows = session.execute(text(f"EXPLAIN {compiled}")).all()
    return "\n".join(row[0] for row in rows)


def test_role_assignee_and_overdue_queues_use_their_indexes(postgres_url: str) -> None:
    upgrade(postgres_url)
    engine = database_engine(postgres_url)
    captured: list[object] = []
    with Session(engine) as session:
        original = session.exec

        def capture(statement, *args, **kwargs):  # type: ignore[no-untyped-def]
            captured.append(statement)
            return original(statement, *args, **kwargs)

        session.exec = capture  # type: ignore[method-assign]
        queue(session, NOW, role="lab")
        queue(session, NOW, assignee="dr.wu")
        queue(session, NOW + timedelta(days=1), overdue=True)
        session.exec = original  # type: ignore[method-assign]
        plans = [_plan(session, statement) for statement in captured]
    engine.dispose()
    assert "ix_task_open_role_queue" in plans[0], plans[0]
    assert "ix_task_open_assignee_queue" in plans[1], plans[1]
    assert "Sort" not in plans[0] and "Sort" not in plans[1]  # due order from the index
    # on an empty table the planner may also answer the overdue sweep from an open-task index
    assert "ix_task_overdue" in plans[2] or "ix_task_open_" in plans[2], plans[2]
