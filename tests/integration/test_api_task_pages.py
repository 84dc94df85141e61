"""Task queues and event logs in pages: a walk by `next_cursor` sees every row once, in order.

Many tasks share a due time (a clinic's morning slots), so the keyset must break ties by
urgency and then id exactly as the queue's ORDER BY does, or a page boundary loses or
repeats a task. Each walk is checked against the order computed here from the rows.
"""

from __future__ import annotations

import base64
import json
import random
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlmodel import select

from pathways.store.database import database_engine, upgrade
from pathways.store.staff_tasks import queue_query
from pathways.store.tables import StaffTask
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork
from tests import writes
from tests.integration.api_support import Api

BAD_CURSOR = "cursor is not one this API issued"


def _add_tasks(
    api: Api,
    enrollment_id: str,
    rng: random.Random,
    count: int,
    hours: tuple[int, ...] = (-2, 0, 0, 3, 24),
    first: int = 0,
) -> None:
    """`count` open lab tasks due on a few of `hours` from now, with few priorities (ties)."""
    soon = writes.now().replace(microsecond=0)
    dues = [soon + timedelta(hours=hour) for hour in hours]
    with SqlAlchemyUnitOfWork(api.engine) as uow:
        for number in range(first, first + count):
            rank = rng.choice((0, 1, 1, 2))
            uow.session.add(
                StaffTask(
                    id=str(uuid.UUID(int=rng.getrandbits(128))),
                    enrollment_id=enrollment_id,
                    engine_task=f"x{number}",
                    step=f"extra_{number}",
                    pathway="chemotherapy",
                    title=f"Extra {number}",
                    role="lab",
                    status=rng.choice(("ready", "in-progress", "on-hold")),
                    priority=("stat", "urgent", "urgent", "routine")[rank],
                    priority_rank=rank,
                    due_at=rng.choice(dues),
                    record_fields=[],
                    created_at=soon,
                    updated_at=soon,
                )
            )
        uow.commit()


def _queue_order(api: Api) -> list[str]:
    """The lab queue's task ids in queue order, computed from the rows themselves."""
    with SqlAlchemyUnitOfWork(api.engine) as uow:
        rows = uow.session.exec(
            select(StaffTask).where(
                StaffTask.role == "lab",
                StaffTask.status.in_(("ready", "in-progress", "on-hold")),  # type: ignore[attr-defined]
            )
        ).all()
        return [t.id for t in sorted(rows, key=lambda t: (t.due_at, t.priority_rank, t.id))]


def _walk(api: Api, path: str, params: dict[str, Any], role: str = "navigator") -> list[Any]:
    """Every page of a list, following next_cursor; the pages' items in the order served."""
    pages: list[list[Any]] = []
    cursor = None
    while True:
        asked = {**params, "cursor": cursor} if cursor else params
        response = api.call("GET", path, role, params=asked)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page["items"])
        assert len(page["items"]) <= params["limit"]
        cursor = page["next_cursor"]
        if cursor is None:
            return [item for items in pages for item in items]
        assert len(page["items"]) == params["limit"]  # only a full page has a next one
        assert len(pages) < 200, "the walk does not end"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_walking_a_queue_with_shared_due_times_sees_each_task_once_in_order(
    api: Api, seed: int
) -> None:
    rng = random.Random(seed)
    _add_tasks(api, api.enrolled(), rng, count=rng.randint(15, 30))
    expected = _queue_order(api)
    for limit in (1, 2, 3, 7, 50):
        for role, params in (("navigator", {"role": "lab"}), ("lab", {})):
            walked = [task["id"] for task in _walk(api, "/tasks", {**params, "limit": limit}, role)]
            assert walked == expected, (limit, role)


def test_a_walk_in_progress_neither_repeats_nor_skips_when_the_queue_changes(api: Api) -> None:
    rng = random.Random(7)
    enrollment_id = api.enrolled()
    _add_tasks(api, enrollment_id, rng, count=12)
    first = api.call("GET", "/tasks", params={"role": "lab", "limit": 5}).json()
    seen = [task["id"] for task in first["items"]]
    # Meanwhile one task already served is closed and a new one arrives due last.
    with SqlAlchemyUnitOfWork(api.engine) as uow:
        served = uow.session.get(StaffTask, seen[0])
        assert served is not None
        served.status = "completed"
        uow.session.add(served)
        uow.commit()
    _add_tasks(api, enrollment_id, random.Random(8), count=1, hours=(48,), first=100)
    rest: list[str] = []
    cursor = first["next_cursor"]
    while cursor:
        page = api.call("GET", "/tasks", params={"role": "lab", "limit": 5, "cursor": cursor})
        rest += [task["id"] for task in page.json()["items"]]
        cursor = page.json()["next_cursor"]
    assert not set(seen) & set(rest)  # no task twice
    still_open = _queue_order(api)
    assert [task for task in still_open if task not in seen] == rest  # none skipped, in order


def test_a_short_queue_is_one_page_without_a_cursor(api: Api) -> None:
    api.enrolled()
    page = api.call("GET", "/tasks", "lab").json()
    assert [task["step"] for task in page["items"]] == ["baseline_labs"]
    assert page["next_cursor"] is None


def _forged(position: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        "%%%",
        _forged(["2026-01-01T00:00:00+00:00", 1, "x"]),  # a list, not an object
        _forged({"due": "2026-01-01T00:00:00+00:00", "id": "x"}),  # an enrollment's cursor
        _forged({"due": None, "rank": 1, "id": "x"}),  # a task is always due
        _forged({"due": "2026-01-01T00:00:00", "rank": 1, "id": "x"}),  # no zone
        _forged({"due": "0001-01-01T00:00:00+05:00", "rank": 1, "id": "x"}),  # before year 1
        _forged({"due": "2026-01-01T00:00:00+00:00", "rank": "1", "id": "x"}),
        _forged({"due": "2026-01-01T00:00:00+00:00", "rank": True, "id": "x"}),
        _forged({"due": "2026-01-01T00:00:00+00:00", "rank": 2**63, "id": "x"}),
        _forged({"due": "2026-01-01T00:00:00+00:00", "rank": 1, "id": "x\u0000"}),
        _forged({"due": "2026-01-01T00:00:00+00:00", "rank": 1, "id": 5}),
    ],
)
def test_a_forged_queue_cursor_is_a_422_problem(api: Api, cursor: str) -> None:
    response = api.call("GET", "/tasks", params={"role": "lab", "cursor": cursor})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert BAD_CURSOR in response.json()["detail"]


def test_walking_an_enrollments_events_sees_each_once_newest_first(api: Api) -> None:
    enrollment_id = api.enrolled()
    for number in range(7):
        hold = {"reason": f"admitted {number}", "idempotency_key": f"hold-{number}"}
        assert api.call("POST", f"/enrollments/{enrollment_id}/hold", json=hold).status_code == 202
    everything = api.call("GET", f"/enrollments/{enrollment_id}/events").json()
    assert everything["next_cursor"] is None and len(everything["items"]) == 8
    newest_first = [event["event"] for event in everything["items"]]
    assert newest_first == sorted(newest_first, reverse=True)
    for limit in (1, 3, 8):
        walked = _walk(api, f"/enrollments/{enrollment_id}/events", {"limit": limit})
        assert [event["event"] for event in walked] == newest_first, limit


@pytest.mark.parametrize(
    "cursor", ["c12", "ex", "e-1", "e1.5", "e99999999999999999999", "e\u0661\u0662"]
)  # Arabic-Indic digits
def test_a_forged_event_cursor_is_a_422_problem(api: Api, cursor: str) -> None:
    enrollment_id = api.enrolled()
    response = api.call("GET", f"/enrollments/{enrollment_id}/events", params={"cursor": cursor})
    assert response.status_code == 422, response.text
    assert BAD_CURSOR in response.json()["detail"]


def test_a_later_page_of_a_role_queue_is_read_from_its_index_without_a_sort(
    postgres_url: str,
) -> None:
    upgrade(postgres_url)
    engine = database_engine(postgres_url)
    after = (writes.now(), 1, "some-task")
    for who in ({"role": "lab"}, {"assignee": "dr.wu"}):
        query = queue_query(writes.now(), after=after, **who).limit(51)
        compiled = query.compile(
            dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
        )
        with engine.connect() as connection:
            connection.execute(text("SET enable_seqscan = off"))
            plan = "\n".join(row[0] for row in connection.execute(text(f"EXPLAIN {compiled}")))
        index = "ix_task_open_role_queue" if "role" in who else "ix_task_open_assignee_queue"
        assert index in plan and "Sort" not in plan, plan
    engine.dispose()
