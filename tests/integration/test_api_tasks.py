"""Staff task queues over HTTP: seeing, claiming, completing, skipping and reassigning tasks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from pathways.store.tables import StaffTask
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork
from tests import writes
from tests.integration.api_support import Api

LABS = {"anc": 2000, "platelets": 150000}


def _task_id(api: Api, step: str) -> str:
    with SqlAlchemyUnitOfWork(api.engine) as uow:
        return uow.session.exec(select(StaffTask).where(StaffTask.step == step)).one().id


def _task(api: Api, task_id: str, role: str = "navigator") -> dict[str, Any]:
    response = api.call("GET", f"/tasks/{task_id}", role)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _problem(response: Any, status: int, detail: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert detail in response.json()["detail"]


def test_the_lab_queue_lists_baseline_labs_without_patient_names(api: Api) -> None:
    api.enrolled()
    response = api.call("GET", "/tasks", "lab")
    assert response.status_code == 200
    [task] = response.json()["items"]
    assert (task["step"], task["role"], task["status"]) == ("baseline_labs", "lab", "ready")
    assert task["record_fields"] == ["anc", "platelets"]
    assert task["assignee"] is None and task["overdue"] is False
    assert "Patient Tasks" not in response.text and "MRN-T1" not in response.text


def test_a_navigators_queue_is_soonest_due_first(api: Api) -> None:
    api.enrolled()
    with SqlAlchemyUnitOfWork(api.engine) as uow:
        labs = uow.session.exec(select(StaffTask).where(StaffTask.step == "baseline_labs")).one()
        labs.role, labs.due_at = "radiology", labs.due_at + timedelta(days=30)
        uow.session.add(labs)
        uow.commit()
    listed = api.call("GET", "/tasks", params={"role": "radiology"}).json()["items"]
    assert [task["step"] for task in listed] == ["baseline_imaging", "baseline_labs"]


def test_a_navigator_must_name_a_role_or_an_assignee(api: Api) -> None:
    api.enrolled()
    _problem(api.call("GET", "/tasks"), 422, "give role, assignee or enrollment")
    listed = api.call("GET", "/tasks", "admin", params={"role": "oncology_nurse"}).json()["items"]
    assert [task["step"] for task in listed] == ["teaching"]


def test_staff_see_only_their_own_roles_queue(api: Api) -> None:
    api.enrolled()
    response = api.call("GET", "/tasks", "lab", params={"role": "oncology_nurse"})
    _problem(response, 403, "the lab role may only see the lab queue")
    _problem(api.call("GET", "/tasks", "dashboard"), 403, "the dashboard role may not queue")
    response = api.call("GET", "/tasks", "lab", params={"role": "lab"})
    assert [task["step"] for task in response.json()["items"]] == ["baseline_labs"]


def test_the_overdue_filter_lists_only_tasks_past_due(api: Api) -> None:
    api.enrolled()
    with SqlAlchemyUnitOfWork(api.engine) as uow:
        labs = uow.session.exec(select(StaffTask).where(StaffTask.step == "baseline_labs")).one()
        labs.due_at = writes.now() - timedelta(hours=1)
        uow.session.add(labs)
        uow.commit()
    [late] = api.call("GET", "/tasks", "lab", params={"overdue": "true"}).json()["items"]
    assert (late["step"], late["overdue"]) == ("baseline_labs", True)
    params = {"role": "radiology", "overdue": "true"}
    assert api.call("GET", "/tasks", params=params).json()["items"] == []


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"role": "lab", "limit": 0}, "query.limit: Input should be greater than or equal to 1"),
        ({"role": "lab", "limit": 201}, "query.limit: Input should be less than or equal to 200"),
        ({"role": "lab", "status": "done"}, "query.status: Input should be 'ready'"),
        ({"role": "lab", "overdue": "maybe"}, "query.overdue: Input should be a valid boolean"),
    ],
)
def test_bad_queue_filters_get_a_problem_naming_the_filter(
    api: Api, params: dict[str, object], detail: str
) -> None:
    _problem(api.call("GET", "/tasks", params=params), 422, detail)


def test_claiming_puts_the_task_in_progress_with_the_caller_as_assignee(api: Api) -> None:
    api.enrolled()
    labs = _task_id(api, "baseline_labs")
    response = api.call("POST", f"/tasks/{labs}/claim", "lab")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["assignee"]) == ("in-progress", "lab.tester")
    mine = api.call("GET", "/tasks", params={"assignee": "lab.tester"}).json()["items"]
    assert [task["id"] for task in mine] == [labs]


def test_a_navigator_may_claim_for_someone_and_then_others_get_a_409(api: Api) -> None:
    api.enrolled()
    labs = _task_id(api, "baseline_labs")
    claimed = api.call("POST", f"/tasks/{labs}/claim", json={"assignee": "sam.lab"})
    assert claimed.json()["assignee"] == "sam.lab"
    response = api.call("POST", f"/tasks/{labs}/claim", "lab")
    _problem(response, 409, "is claimed by sam.lab: reassign it first")


@pytest.mark.parametrize(
    ("role", "step", "body", "detail"),
    [
        ("dashboard", "baseline_labs", None, "the dashboard role may not work"),
        ("lab", "teaching", None, "the lab role may only work lab tasks"),
        ("lab", "baseline_labs", {"assignee": "sam.lab"}, "staff claim tasks for themselves"),
    ],
)
def test_staff_claim_only_their_roles_tasks_and_only_for_themselves(
    api: Api, role: str, step: str, body: dict[str, str] | None, detail: str
) -> None:
    api.enrolled()
    task_id = _task_id(api, step)
    _problem(api.call("POST", f"/tasks/{task_id}/claim", role, json=body), 403, detail)
    assert _task(api, task_id)["status"] == "ready"


def test_completing_labs_closes_the_task_once_a_worker_applies_it(api: Api) -> None:
    api.enrolled()
    labs = _task_id(api, "baseline_labs")
    api.call("POST", f"/tasks/{labs}/claim", "lab")
    response = api.call("POST", f"/tasks/{labs}/complete", "lab", json={"data": LABS})
    assert response.status_code == 202 and response.json()["created"] is True
    assert [e["outcome"] for e in _task(api, labs)["events"]] == ["waiting"]
    assert api.work() == 1
    task = _task(api, labs, "lab")
    assert (task["status"], task["recorded"]) == ("completed", LABS)
    assert [change["status"] for change in task["history"]] == ["ready", "in-progress", "completed"]
    assert task["history"][-1]["actor"] == "lab.tester"
    assert [e["outcome"] for e in task["events"]] == ["applied"]
    assert api.call("GET", "/tasks", "lab").json()["items"] == []
    again = api.call("POST", f"/tasks/{labs}/complete", "lab", json={"data": LABS})
    _problem(again, 409, "is completed")


def test_a_completion_with_bad_values_is_refused_at_once_and_a_corrected_one_succeeds(
    api: Api,
) -> None:
    api.enrolled()
    labs = _task_id(api, "baseline_labs")
    for data, reason in [
        ({"anc": "low"}, "'anc': 'low' is not a number"),
        ({"anc": 2000}, "'platelets' must be recorded"),
        ({**LABS, "hb": 12}, "'hb' is not part of this task"),
    ]:
        _problem(
            api.call("POST", f"/tasks/{labs}/complete", "lab", json={"data": data}), 422, reason
        )
    assert api.queued == []  # bad input never reaches the engine
    task = _task(api, labs, "lab")
    assert task["status"] == "ready" and task["events"] == []
    good = api.call("POST", f"/tasks/{labs}/complete", "lab", json={"data": LABS})
    assert good.status_code == 202 and good.json()["created"] is True
    api.work()
    assert _task(api, labs, "lab")["status"] == "completed"


def test_the_same_completion_sent_twice_is_one_event(api: Api) -> None:
    api.enrolled()
    labs = _task_id(api, "baseline_labs")
    body = {"data": LABS, "idempotency_key": "lab-run-42"}
    first = api.call("POST", f"/tasks/{labs}/complete", "lab", json=body)
    again = api.call("POST", f"/tasks/{labs}/complete", "lab", json=body)
    assert (first.json()["created"], again.json()["created"]) == (True, False)
    assert first.json()["event"] == again.json()["event"] and api.work() == 1


def test_a_nurse_skips_teaching_and_the_task_is_cancelled_with_the_reason(api: Api) -> None:
    api.enrolled()
    teaching = _task_id(api, "teaching")
    body = {"reason": "taught at the previous admission"}
    _problem(api.call("POST", f"/tasks/{teaching}/skip", "lab", json=body), 403, "lab tasks")
    response = api.call("POST", f"/tasks/{teaching}/skip", "oncology_nurse", json=body)
    assert response.status_code == 202 and response.json()["created"] is True
    api.work()
    task = _task(api, teaching, "oncology_nurse")
    assert task["status"] == "cancelled"
    assert task["status_reason"] == "skipped: taught at the previous admission"


def test_a_navigator_reassigns_a_task_and_can_return_it_to_the_queue(api: Api) -> None:
    api.enrolled()
    labs = _task_id(api, "baseline_labs")
    api.call("POST", f"/tasks/{labs}/claim", "lab")
    body = {"assignee": "sam.lab", "reason": "covering the clinic"}
    _problem(api.call("POST", f"/tasks/{labs}/reassign", "lab", json=body), 403, "may not navigate")
    moved = api.call("POST", f"/tasks/{labs}/reassign", json=body)
    assert moved.status_code == 200
    assert (moved.json()["assignee"], moved.json()["status"]) == ("sam.lab", "in-progress")
    back = api.call("POST", f"/tasks/{labs}/reassign", json={"assignee": None, "reason": "off"})
    assert (back.json()["assignee"], back.json()["status"]) == (None, "ready")
    history = _task(api, labs)["history"]
    assert [(c["status"], c["actor"], c["reason"]) for c in history[-2:]] == [
        ("in-progress", "navigator.tester", "covering the clinic"),
        ("ready", "navigator.tester", "off"),
    ]


def test_a_task_on_hold_with_its_enrollment_cannot_be_claimed(api: Api) -> None:
    enrollment_id = api.enrolled()
    event = {"type": "hold", "data": {"reason": "admitted"}, "idempotency_key": "h1"}
    api.call("POST", f"/enrollments/{enrollment_id}/events", json=event)
    api.work()
    [held] = api.call("GET", "/tasks", "lab").json()["items"]
    assert (held["status"], held["status_reason"]) == ("on-hold", "enrollment on hold")
    _problem(api.call("POST", f"/tasks/{held['id']}/claim", "lab"), 409, "is on hold")


def test_staff_read_only_their_roles_tasks_and_the_dashboard_reads_any(api: Api) -> None:
    api.enrolled()
    teaching = _task_id(api, "teaching")
    _problem(api.call("GET", f"/tasks/{teaching}", "lab"), 403, "may only see lab tasks")
    assert _task(api, teaching, "dashboard")["history"][0]["status"] == "ready"
    assert _task(api, teaching, "oncology_nurse")["title"] == "Chemotherapy teaching"


@pytest.mark.parametrize(
    ("action", "body", "detail"),
    [
        ("claim", {"assignee": ""}, "body.assignee: String should have at least 1 character"),
        ("claim", {"who": "sam"}, "body.who: Extra inputs are not permitted"),
        ("complete", {"data": "low"}, "body.data: Input should be a valid dictionary"),
        ("complete", {"data": {}, "note": "x"}, "body.note: Extra inputs are not permitted"),
        ("complete", {"idempotency_key": ""}, "body.idempotency_key: String should have at"),
        ("skip", {}, "body.reason: Field required"),
        ("skip", {"reason": "   "}, "body.reason: String should have at least 1 character"),
        ("skip", {"reason": "x" * 301}, "body.reason: String should have at most 300"),
        ("reassign", {"reason": "covering"}, "body.assignee: Field required"),
    ],
)
def test_bad_task_requests_get_a_problem_naming_the_field_and_change_nothing(
    api: Api, action: str, body: dict[str, object], detail: str
) -> None:
    api.enrolled()
    labs = _task_id(api, "baseline_labs")
    _problem(api.call("POST", f"/tasks/{labs}/{action}", "admin", json=body), 422, detail)
    assert api.queued == []
    assert [change["status"] for change in _task(api, labs)["history"]] == ["ready"]


@pytest.mark.parametrize(
    ("role", "method", "path", "body"),
    [
        ("lab", "GET", "/tasks/nope", None),
        ("lab", "POST", "/tasks/nope/claim", None),
        ("lab", "POST", "/tasks/nope/complete", {"data": LABS}),
        ("lab", "POST", "/tasks/nope/skip", {"reason": "x"}),
        ("navigator", "POST", "/tasks/nope/reassign", {"assignee": None, "reason": "x"}),
    ],
)
def test_an_unknown_task_is_a_404_problem(
    api: Api, role: str, method: str, path: str, body: dict[str, object] | None
) -> None:
    _problem(api.call(method, path, role, json=body), 404, "no task nope")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/tasks"),
        ("GET", "/tasks/some"),
        ("POST", "/tasks/some/claim"),
        ("POST", "/tasks/some/complete"),
        ("POST", "/tasks/some/skip"),
        ("POST", "/tasks/some/reassign"),
    ],
)
def test_task_requests_without_a_token_get_a_401_problem(api: Api, method: str, path: str) -> None:
    response = api.client.request(method, path, json={})
    _problem(response, 401, "Authorization: Bearer TOKEN")


def test_a_task_carries_its_form_as_the_pathway_declares_it(api: Api) -> None:
    api.enrolled()
    form = _task(api, _task_id(api, "baseline_labs"), "lab")["form"]
    assert [(f["name"], f["type"], f["unit"], f["required"]) for f in form] == [
        ("anc", "number", "/uL", True),
        ("platelets", "number", "/uL", True),
    ]
    assert _task(api, _task_id(api, "baseline_imaging"), "radiology")["form"] == []


def test_an_enrollments_open_tasks_are_listed_for_its_patient_view(api: Api) -> None:
    first, second = api.enrolled("MRN-F1"), api.enrolled("MRN-F2")
    listed = api.call("GET", "/tasks", params={"enrollment": first}).json()["items"]
    assert {task["enrollment_id"] for task in listed} == {first}
    assert {task["step"] for task in listed} >= {"baseline_labs", "baseline_imaging"}
    assert all(task["enrollment_id"] != second for task in listed)
    # staff still see only their own role's part of it
    mine = api.call("GET", "/tasks", "lab", params={"enrollment": first}).json()["items"]
    assert [task["step"] for task in mine] == ["baseline_labs"]


def test_completion_data_is_shown_to_staff_and_never_to_the_dashboard(api: Api) -> None:
    api.enrolled()
    labs = _task_id(api, "baseline_labs")
    api.call("POST", f"/tasks/{labs}/complete", "lab", json={"data": LABS})
    assert api.work() == 1
    assert [e["data"] for e in _task(api, labs, "lab")["events"]] == [
        {"task": _task(api, labs)["events"][0]["data"]["task"], "data": LABS}
    ]
    assert [e["data"] for e in _task(api, labs, "dashboard")["events"]] == [None]
    assert _task(api, labs, "lab")["recorded"] == LABS
    assert _task(api, labs, "dashboard")["recorded"] is None  # the values recorded are PHI
