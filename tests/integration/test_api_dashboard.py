"""/dashboard over HTTP: counts, overdue work, days to first treatment, on-time work, the board
agenda; read from the stored summary (with its age), or computed live before there is one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, event
from sqlmodel import Session, col, select

from pathways.service.bus import Service
from pathways.service.commands import RefreshDashboardSummary
from pathways.store.replay import replay
from pathways.store.summary import Summary
from pathways.store.tables import OPEN_TASK_STATUSES, DashboardSummary, Enrollment, StaffTask
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork
from tests import writes
from tests.integration.api_support import Api

BOARD_CASE = {"bilsky_grade": "2", "sins": 9, "radiosensitive": False}
LABS = {"anc": 2000, "platelets": 150000}


def _complete(api: Api, enrollment_id: str, step: str, data: dict[str, Any] | None = None) -> None:
    """Complete the open task of a step over HTTP (as admin) and let the worker apply it."""
    with SqlAlchemyUnitOfWork(api.engine) as uow:
        task_id = uow.session.exec(
            select(StaffTask.id).where(
                StaffTask.enrollment_id == enrollment_id,
                StaffTask.step == step,
                col(StaffTask.status).in_(OPEN_TASK_STATUSES),
            )
        ).one()
    response = api.call("POST", f"/tasks/{task_id}/complete", "admin", json={"data": data or {}})
    assert response.status_code == 202, response.text
    assert api.work() == 1
    assert api.call("GET", f"/tasks/{task_id}", "admin").json()["status"] == "completed"


def _dashboard(api: Api) -> dict[str, Any]:
    response = api.call("GET", "/dashboard", "dashboard")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _summarised(api: Api) -> Summary:
    """Run the summary sweep once, as beat does."""
    return Service.on(api.engine).handle(RefreshDashboardSummary())


@contextmanager
def _statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn, _cursor, statement, _params, _context, _many) -> None:  # type: ignore[no-untyped-def]
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_an_empty_clinic_has_no_counts_and_the_next_board_on_a_wednesday_at_seven(
    api: Api,
) -> None:
    body = _dashboard(api)
    assert body["counts"] == [] and body["overdue_tasks_by_role"] == []
    assert body["days_to_first_treatment"] == {"median": None, "p90": None, "enrollments": 0}
    assert body["on_time"] == {"rate": None, "on_time": 0, "completed": 0, "window_days": 90}
    meets_at = datetime.fromisoformat(body["next_tumour_board"]["meets_at"])
    local = meets_at.astimezone(ZoneInfo("America/Toronto"))
    assert (local.weekday(), local.hour, local.minute) == (2, 7, 0)
    assert meets_at > writes.now() and body["next_tumour_board"]["enrollments"] == []


def test_counts_by_pathway_status_and_flag_and_overdue_tasks_by_role(api: Api) -> None:
    ten_days_ago = writes.now() - timedelta(days=10)
    api.enrolled("MRN-D1", now=ten_days_ago)  # its baseline work-up is overdue
    api.enrolled("MRN-D2", now=ten_days_ago)
    api.enrolled("MRN-D3", "tumour_board", BOARD_CASE)  # due in two working days
    body = _dashboard(api)
    counts = {(c["pathway"], c["status"]): c["enrollments"] for c in body["counts"]}
    assert counts == {("chemotherapy", "active"): 2, ("tumour_board", "active"): 1}
    assert {c["flag"] for c in body["counts"]} <= {"on_track", "at_risk", "overdue"}
    assert body["overdue_tasks_by_role"] == [
        {"role": "lab", "tasks": 2},
        {"role": "oncology_nurse", "tasks": 2},
        {"role": "pharmacist", "tasks": 2},
        {"role": "radiology", "tasks": 2},
    ]
    assert "MRN-D" not in str(body) and "Patient" not in str(body)


def test_the_board_agenda_lists_a_case_once_its_preparation_is_done(api: Api) -> None:
    waiting = api.enrolled("MRN-B1", "tumour_board", BOARD_CASE)
    preparing = api.enrolled("MRN-B2", "tumour_board", BOARD_CASE)
    for step in ("collect_imaging", "collect_pathology"):
        _complete(api, waiting, step)
    assert _dashboard(api)["next_tumour_board"]["enrollments"] == []
    _complete(api, waiting, "collect_reports")
    agenda = _dashboard(api)["next_tumour_board"]
    assert agenda["enrollments"] == [{"enrollment_id": waiting, "pathway": "tumour_board"}]
    assert preparing not in str(agenda)


def test_the_board_agenda_finds_a_case_waiting_inside_a_multimodal_plan(api: Api) -> None:
    plan = api.enrolled("MRN-B3", "multimodality_plan", {**BOARD_CASE, "smoker": False})
    for step in ("collect_imaging", "collect_pathology", "collect_reports"):
        _complete(api, plan, step)
    agenda = _dashboard(api)["next_tumour_board"]
    assert agenda["enrollments"] == [{"enrollment_id": plan, "pathway": "multimodality_plan"}]


def test_the_median_days_to_first_treatment_counts_the_first_infusion(api: Api) -> None:
    enrolled_at = writes.now() - timedelta(days=10)
    treated = api.enrolled("MRN-F1", now=enrolled_at)
    api.enrolled("MRN-F2", now=enrolled_at)  # not treated yet: not counted
    _complete(api, treated, "baseline_labs", LABS)
    for step in ("baseline_imaging", "medication_review", "teaching", "consent"):
        _complete(api, treated, step)
    _complete(api, treated, "pre_cycle_labs", LABS)
    _complete(api, treated, "pharmacy_verification")
    _summarised(api)
    untreated = {"median": None, "p90": None, "enrollments": 0}
    assert _dashboard(api)["days_to_first_treatment"] == untreated
    _complete(api, treated, "infusion")
    with Session(api.engine) as session:
        row = session.get(Enrollment, treated)
        assert row is not None and row.first_treatment_at is not None
        assert row.first_treatment_at == datetime.fromisoformat(row.state["first_treatment_at"])
        assert replay(session, row).matches  # the log records the same moment again
    assert _dashboard(api)["days_to_first_treatment"] == untreated  # until the sweep runs
    _summarised(api)
    body = _dashboard(api)
    first = body["days_to_first_treatment"]
    assert first["enrollments"] == 1
    assert first["median"] == pytest.approx(10, abs=0.01) == first["p90"]
    # Eight tasks completed: the work-up, due days after an enrolment ten days ago, late.
    on_time = body["on_time"]
    with Session(api.engine) as session:
        done = session.exec(select(StaffTask).where(StaffTask.status == "completed")).all()
    assert on_time["completed"] == len(done) == 8
    assert on_time["on_time"] == sum(task.updated_at <= task.due_at for task in done)
    assert 0 < on_time["on_time"] < 8
    assert on_time["rate"] == round(on_time["on_time"] / 8, 3)


def test_percentiles_of_days_to_first_treatment_are_the_same_on_either_database(
    api: Api,
) -> None:
    enrolled_at = writes.now() - timedelta(days=40)
    ids = [api.enrolled(f"MRN-P{n}", now=enrolled_at) for n in range(5)]
    with SqlAlchemyUnitOfWork(api.engine) as uow:  # treated after 1, 3, 3.5, 8 and 30 days
        for enrollment_id, days in zip(ids, (1, 3, 3.5, 8, 30), strict=True):
            row = uow.session.get(Enrollment, enrollment_id)
            assert row is not None
            row.first_treatment_at = enrolled_at + timedelta(days=days)
        uow.commit()
    first = _summarised(api).figures["days_to_first_treatment"]
    # percentile_cont: the median is the middle value; the 90th lies 0.6 of the way from the
    # 4th (8) to the 5th (30) of five
    assert first == {"median": 3.5, "p90": 21.2, "enrollments": 5}


def test_the_route_reads_the_stored_summary_and_says_how_old_it_is(api: Api) -> None:
    api.enrolled("MRN-S1")
    summary = _summarised(api)
    api.enrolled("MRN-S2")  # after the sweep: not in the figures until it runs again
    body = _dashboard(api)
    assert body["source"] == "summary"
    assert datetime.fromisoformat(body["as_of"]) == summary.computed_at
    assert body["counts"] == [
        {"pathway": "chemotherapy", "status": "active", "flag": "on_track", "enrollments": 1}
    ]
    _summarised(api)
    assert _dashboard(api)["counts"][0]["enrollments"] == 2


def test_before_any_summary_the_route_counts_live_and_writes_nothing(api: Api) -> None:
    api.enrolled("MRN-L1")
    before = writes.now()
    body = _dashboard(api)
    assert body["source"] == "live"
    assert before <= datetime.fromisoformat(body["as_of"]) <= writes.now()
    assert body["counts"][0]["enrollments"] == 1
    with Session(api.engine) as session:
        assert session.exec(select(DashboardSummary)).all() == []  # a GET stores nothing


def _statements_of_a_dashboard(api: Api) -> list[str]:
    _summarised(api)
    _dashboard(api)  # the board's definitions compiled and cached, as in a running API
    with _statements(api.engine) as seen:
        _dashboard(api)
    return seen


def test_the_dashboard_costs_the_same_few_statements_however_many_tasks_there_are(
    api: Api,
) -> None:
    api.enrolled("MRN-C0")  # a chemotherapy enrolment opens four work-up tasks
    few = _statements_of_a_dashboard(api)
    for n in range(1, 6):
        api.enrolled(f"MRN-C{n}")
    with Session(api.engine) as session:
        assert len(session.exec(select(StaffTask.id)).all()) == 24
    many = _statements_of_a_dashboard(api)
    queries = [sql for sql in many if sql != "BEGIN"]  # SQLite's, sent by carepath itself
    assert len(many) == len(few) and len(queries) == 1, "\n".join(s[:80] for s in many)
    # The figures and the board's agenda come from the one stored row: no task, timer or
    # definition is read, nothing is counted.
    assert "FROM dashboard_summary" in queries[0] and "count(" not in queries[0].lower()


def test_a_poll_is_answered_304_from_the_summary_moment_until_the_sweep_runs_again(
    api: Api,
) -> None:
    api.enrolled("MRN-E1")
    _summarised(api)
    first = api.call("GET", "/dashboard", "dashboard")
    tag = first.headers["etag"]
    with _statements(api.engine) as seen:
        again = api.call("GET", "/dashboard", "dashboard", headers={"If-None-Match": tag})
    assert (again.status_code, again.content) == (304, b"")
    [probe] = [sql for sql in seen if sql != "BEGIN"]
    assert "dashboard_summary.computed_at" in probe and "figures" not in probe
    api.enrolled("MRN-E2")
    assert (
        api.call("GET", "/dashboard", "dashboard", headers={"If-None-Match": tag}).status_code
        == 304
    )
    _summarised(api)
    fresh = api.call("GET", "/dashboard", "dashboard", headers={"If-None-Match": tag})
    assert fresh.status_code == 200 and fresh.headers["etag"] != tag
    assert sum(c["enrollments"] for c in fresh.json()["counts"]) == 2


def test_the_dashboard_needs_a_token(api: Api) -> None:
    response = api.client.get("/dashboard")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


def test_the_stored_summary_carries_the_board_agenda(api: Api) -> None:
    waiting = api.enrolled("MRN-B9", "tumour_board", BOARD_CASE)
    for step in ("collect_imaging", "collect_pathology", "collect_reports"):
        _complete(api, waiting, step)
    _summarised(api)
    agenda = _dashboard(api)["next_tumour_board"]
    assert agenda["enrollments"] == [{"enrollment_id": waiting, "pathway": "tumour_board"}]
