"""/dashboard over HTTP: counts, overdue work, days to first treatment, the board agenda."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from pathways.store.tables import OPEN_TASK_STATUSES, StaffTask
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


def test_an_empty_clinic_has_no_counts_and_the_next_board_on_a_wednesday_at_seven(
    api: Api,
) -> None:
    body = _dashboard(api)
    assert body["counts"] == [] and body["overdue_tasks_by_role"] == []
    assert body["days_to_first_treatment"] == {"median": None, "enrollments": 0}
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
    assert _dashboard(api)["days_to_first_treatment"] == {"median": None, "enrollments": 0}
    _complete(api, treated, "infusion")
    first = _dashboard(api)["days_to_first_treatment"]
    assert first["enrollments"] == 1
    assert first["median"] == pytest.approx(10, abs=0.01)


def test_the_dashboard_needs_a_token(api: Api) -> None:
    response = api.client.get("/dashboard")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
