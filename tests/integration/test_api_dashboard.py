"""/dashboard over HTTP: counts, overdue work, days to first treatment and the board agenda."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from sqlmodel import col, select

from api.routes import dashboard
from pathways.store.enrollments import enrol, register_patient
from pathways.store.tables import OPEN_TASK_STATUSES, StaffTask
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork
from tests.integration.api_support import Api
from workers import jobs

BOARD_CASE = {"bilsky_grade": "2", "sins": 9, "radiosensitive": False}
LABS = {"anc": 2000, "platelets": 150000}


@pytest.fixture
def board(api: Api) -> Api:
    """The API with the dashboard router (included here until the app wires it)."""
    app = cast(FastAPI, api.client.app)
    if "/dashboard" not in {getattr(route, "path", None) for route in app.routes}:
        app.include_router(dashboard.router)
    return api


def _enrolled(
    api: Api,
    mrn: str,
    pathway: str = "chemotherapy",
    patient: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> str:
    with SqlAlchemyUnitOfWork(api.engine) as uow:
        person = register_patient(uow, mrn, f"Patient {mrn}", "kim", jobs.now())
        enrollment = enrol(
            uow, person.id, pathway, None, {}, patient or {}, "kim", now or jobs.now()
        )
        uow.commit()
    return enrollment.id


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


def test_an_empty_clinic_has_no_counts_and_the_next_board_on_a_wednesday_at_seven(
    board: Api,
) -> None:
    body = _dashboard(board)
    assert body["counts"] == [] and body["overdue_tasks_by_role"] == []
    assert body["days_to_first_treatment"] == {"median": None, "enrollments": 0}
    meets_at = datetime.fromisoformat(body["next_tumour_board"]["meets_at"])
    local = meets_at.astimezone(ZoneInfo("America/Toronto"))
    assert (local.weekday(), local.hour, local.minute) == (2, 7, 0)
    assert meets_at > jobs.now() and body["next_tumour_board"]["enrollments"] == []


def test_counts_by_pathway_status_and_flag_and_overdue_tasks_by_role(board: Api) -> None:
    ten_days_ago = jobs.now() - timedelta(days=10)
    _enrolled(board, "MRN-D1", now=ten_days_ago)  # its baseline work-up is overdue
    _enrolled(board, "MRN-D2", now=ten_days_ago)
    _enrolled(board, "MRN-D3", "tumour_board", BOARD_CASE)  # due in two working days
    body = _dashboard(board)
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


def test_the_board_agenda_lists_a_case_once_its_preparation_is_done(board: Api) -> None:
    waiting = _enrolled(board, "MRN-B1", "tumour_board", BOARD_CASE)
    preparing = _enrolled(board, "MRN-B2", "tumour_board", BOARD_CASE)
    for step in ("collect_imaging", "collect_pathology"):
        _complete(board, waiting, step)
    assert _dashboard(board)["next_tumour_board"]["enrollments"] == []
    _complete(board, waiting, "collect_reports")
    agenda = _dashboard(board)["next_tumour_board"]
    assert agenda["enrollments"] == [{"enrollment_id": waiting, "pathway": "tumour_board"}]
    assert preparing not in str(agenda)


def test_the_board_agenda_finds_a_case_waiting_inside_a_multimodal_plan(board: Api) -> None:
    plan = _enrolled(board, "MRN-B3", "multimodality_plan", {**BOARD_CASE, "smoker": False})
    for step in ("collect_imaging", "collect_pathology", "collect_reports"):
        _complete(board, plan, step)
    agenda = _dashboard(board)["next_tumour_board"]
    assert agenda["enrollments"] == [{"enrollment_id": plan, "pathway": "multimodality_plan"}]


def test_the_median_days_to_first_treatment_counts_the_first_infusion(board: Api) -> None:
    enrolled_at = jobs.now() - timedelta(days=10)
    treated = _enrolled(board, "MRN-F1", now=enrolled_at)
    _enrolled(board, "MRN-F2", now=enrolled_at)  # not treated yet: not counted
    _complete(board, treated, "baseline_labs", LABS)
    for step in ("baseline_imaging", "medication_review", "teaching", "consent"):
        _complete(board, treated, step)
    _complete(board, treated, "pre_cycle_labs", LABS)
    _complete(board, treated, "pharmacy_verification")
    assert _dashboard(board)["days_to_first_treatment"] == {"median": None, "enrollments": 0}
    _complete(board, treated, "infusion")
    first = _dashboard(board)["days_to_first_treatment"]
    assert first["enrollments"] == 1
    assert first["median"] == pytest.approx(10, abs=0.01)


def test_the_dashboard_needs_a_token(board: Api) -> None:
    response = board.client.get("/dashboard")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
