"""/enrollments over HTTP: enrol, list with filters and cursors, read progress, hold and resume."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlmodel import select

from pathways.store.enrollments import enrol, register_patient
from pathways.store.tables import Enrollment, PathwayEvent
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork
from tests import writes
from tests.integration.api_support import Api

PROBLEM = "application/problem+json"


def _patient(api: Api, mrn: str = "MRN-E1", name: str = "Robin Enrolled") -> str:
    # The patients router is written separately: register through the store.
    with SqlAlchemyUnitOfWork(api.engine) as uow:
        patient = register_patient(uow, mrn, name, "kim", writes.now())
        uow.commit()
    return patient.id


def _enrol(api: Api, patient_id: str, key: str, pathway: str = "chemotherapy", **extra: Any) -> Any:
    body = {"patient_id": patient_id, "pathway": pathway, "idempotency_key": key, **extra}
    return api.call("POST", "/enrollments", json=body)


def _enrolled(api: Api, mrn: str = "MRN-E1", pathway: str = "chemotherapy", **extra: Any) -> str:
    response = _enrol(api, _patient(api, mrn, f"Patient {mrn}"), f"enrol-{mrn}", pathway, **extra)
    assert response.status_code == 201, response.text
    enrollment_id: str = response.json()["id"]
    return enrollment_id


def _listed(api: Api, caller: str = "navigator", **params: Any) -> list[dict[str, Any]]:
    response = api.call("GET", "/enrollments", caller, params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _detail(api: Api, enrollment_id: str, *include: str) -> dict[str, Any]:
    params = {"include": list(include)}
    response = api.call("GET", f"/enrollments/{enrollment_id}", "dashboard", params=params)
    assert response.status_code == 200, response.text
    detail: dict[str, Any] = response.json()
    return detail


def test_a_navigator_enrols_a_registered_patient_and_reads_where_it_stands(api: Api) -> None:
    patient_id = _patient(api)
    response = _enrol(api, patient_id, "enrol-1", parameters={"cycles": 2})
    assert response.status_code == 201
    body = response.json()
    assert response.headers["location"] == f"/enrollments/{body['id']}"
    # No version named: the latest published, version 2 of the shipped library.
    assert (body["patient_id"], body["pathway"], body["version"]) == (patient_id, "chemotherapy", 2)
    assert (body["status"], body["flag"], body["outcome"]) == ("active", "on_track", None)
    assert body["parameters"]["cycles"] == 2 and body["parameters"]["cycle_length"] == "P21D"
    assert body["progress"]["phase"] == "Baseline work-up" and body["timeline"] is None
    read = _detail(api, body["id"])
    assert {key: read[key] for key in ("id", "status", "parameters", "enrolled_at")} == {
        key: body[key] for key in ("id", "status", "parameters", "enrolled_at")
    }


def test_the_detail_shows_progress_and_the_projected_timeline(api: Api) -> None:
    detail = _detail(api, _enrolled(api), "timeline")
    progress = detail["progress"]
    assert progress["phase"] == "Baseline work-up"
    assert progress["expected"] > progress["done"] == 0
    assert progress["projected_end"] and progress["planned_end"]
    labs = next(step for step in progress["current"] if step["step"] == "baseline_labs")
    assert (labs["kind"], labs["pathway"]) == ("task", "chemotherapy@2") and labs["task"]
    data = {"data": {"anc": 2000, "platelets": 150000}}
    completed = api.call("POST", f"/tasks/{labs['staff_task_id']}/complete", "lab", json=data)
    assert completed.status_code == 202, completed.text
    assert progress["next_due"] == min(s["due"] for s in progress["current"] if s["due"])
    rows = detail["timeline"]
    assert {"baseline_labs", "infusion"} <= {row["step"] for row in rows}
    assert all(row["ended"] in ("completed", "cancelled", "skipped", "") for row in rows)
    assert sum(row["ended"] == "completed" for row in rows) == progress["expected"]


def test_the_same_idempotency_key_gives_the_same_enrollment_with_200(api: Api) -> None:
    patient_id = _patient(api)
    first = _enrol(api, patient_id, "enrol-1")
    again = _enrol(api, patient_id, "enrol-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert len(_listed(api)) == 1


def test_concurrent_first_tries_with_one_key_enrol_once(api: Api) -> None:
    patient_id = _patient(api)
    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda _: _enrol(api, patient_id, "enrol-1"), range(4)))
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 201]
    assert len({r.json()["id"] for r in responses}) == 1 and len(_listed(api)) == 1


def test_an_idempotency_key_reused_for_another_enrollment_is_a_409_problem(api: Api) -> None:
    patient_id = _patient(api)
    assert _enrol(api, patient_id, "enrol-1").status_code == 201
    response = _enrol(api, patient_id, "enrol-1", "radiation_sbrt")
    assert response.status_code == 409 and response.headers["content-type"] == PROBLEM
    assert "send a new key" in response.json()["detail"]
    assert len(_listed(api)) == 1


def test_patient_attributes_a_pathway_requires_are_taken_from_the_body(api: Api) -> None:
    patient_id = _patient(api)
    missing = _enrol(api, patient_id, "enrol-1", "surgery")
    assert missing.status_code == 422
    assert missing.json()["detail"] == "patient attribute 'smoker' is required (boolean)"
    given = _enrol(api, patient_id, "enrol-2", "surgery", patient={"smoker": False})
    assert (given.status_code, given.json()["status"]) == (201, "active")


@pytest.mark.parametrize(
    ("extra", "detail"),
    [
        ({"parameters": {"cycles": 40}}, "parameter 'cycles': 40 is above the maximum 12"),
        ({"version": 0}, "body.version: Input should be greater than or equal to 1"),
        ({"reason": "x"}, "body.reason: Extra inputs are not permitted"),
        ({"idempotency_key": ""}, "body.idempotency_key: String should have at least 1"),
    ],
)
def test_bad_enrolments_get_a_422_problem_and_enrol_no_one(
    api: Api, extra: dict[str, Any], detail: str
) -> None:
    response = _enrol(api, _patient(api), "enrol-1", **extra)
    assert response.status_code == 422 and response.headers["content-type"] == PROBLEM
    assert detail in response.json()["detail"]
    assert _listed(api) == []


@pytest.mark.parametrize(
    ("patient", "pathway", "version", "detail"),
    [
        ("nope", "chemotherapy", None, "no patient nope"),
        (None, "nope", None, "no published pathway 'nope'"),
        (None, "chemotherapy", 9, "no published pathway 'chemotherapy' version 9"),
    ],
)
def test_enrolling_an_unknown_patient_or_pathway_is_a_404_problem(
    api: Api, patient: str | None, pathway: str, version: int | None, detail: str
) -> None:
    response = _enrol(api, patient or _patient(api), "enrol-1", pathway, version=version)
    assert response.status_code == 404 and response.headers["content-type"] == PROBLEM
    assert response.json()["detail"] == detail


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/enrollments"),
        ("GET", "/enrollments"),
        ("GET", "/enrollments/any"),
        ("POST", "/enrollments/any/hold"),
        ("POST", "/enrollments/any/resume"),
        ("POST", "/enrollments/any/withdraw"),
    ],
)
def test_every_enrollment_endpoint_needs_a_token(api: Api, method: str, path: str) -> None:
    response = api.client.request(method, path, json={})
    assert response.status_code == 401 and response.headers["content-type"] == PROBLEM


@pytest.mark.parametrize("role", ["dashboard", "lab"])
def test_readers_and_staff_cannot_enrol_hold_resume_or_withdraw(api: Api, role: str) -> None:
    enrollment_id = _enrolled(api)
    create = _enrol(api, _patient(api, "MRN-E2"), "enrol-2")
    assert create.status_code == 201  # as the navigator; now the same as `role`:
    body = {"patient_id": create.json()["patient_id"], "pathway": "chemotherapy"}
    refused = [api.call("POST", "/enrollments", role, json=body | {"idempotency_key": "k"})]
    for action in ("hold", "resume", "withdraw"):
        reason = {"reason": "admitted", "idempotency_key": f"{role}-{action}"}
        refused.append(
            api.call("POST", f"/enrollments/{enrollment_id}/{action}", role, json=reason)
        )
    assert {(r.status_code, r.json()["detail"]) for r in refused} == {
        (403, f"the {role} role may not navigate")
    }
    assert api.queued == [] and len(_listed(api, role)) == 2
    assert _detail(api, enrollment_id)["status"] == "active"


def test_the_list_filters_by_pathway_status_flag_and_open_task_role(api: Api) -> None:
    chemo = _enrolled(api, "MRN-C1")
    held = _enrolled(api, "MRN-C2")
    sbrt = _enrolled(api, "MRN-S1", "radiation_sbrt")
    surveillance = _enrolled(api, "MRN-V1", "surveillance_imaging")
    reason = {"reason": "admitted", "idempotency_key": "hold-1"}
    assert api.call("POST", f"/enrollments/{held}/hold", json=reason).status_code == 202
    assert api.work() == 1

    def ids(**params: Any) -> set[str]:
        return {item["id"] for item in _listed(api, "dashboard", **params)}

    assert ids() == {chemo, held, sbrt, surveillance}
    assert ids(pathway="chemotherapy") == {chemo, held}
    assert ids(status="on_hold") == ids(flag="on_hold") == {held}
    assert ids(status="active", flag="on_track") == {chemo, sbrt, surveillance}
    assert ids(status="withdrawn") == set()
    assert ids(role="lab") == {chemo, held}  # a held task is paused, still open
    assert ids(role="lab", status="active") == {chemo}
    assert ids(role="radiation_oncologist") == {sbrt}
    assert ids(role="nobody") == set()


def test_text_finds_patients_for_navigators_and_only_pathways_for_the_dashboard(api: Api) -> None:
    chemo = _enrolled(api, "MRN-C1")
    sbrt = _enrolled(api, "MRN-S1", "radiation_sbrt")

    def ids(role: str, text: str) -> set[str]:
        return {item["id"] for item in _listed(api, role, text=text)}

    assert ids("navigator", "mrn-s1") == ids("navigator", "patient MRN-S") == {sbrt}
    assert ids("admin", "MRN-C1") == {chemo}
    assert ids("dashboard", "MRN-S1") == ids("lab", "Patient") == set()
    assert ids("dashboard", "SBRT") == ids("dashboard", "radiation_") == {sbrt}
    assert ids("dashboard", "chemo") == {chemo}
    assert ids("navigator", "%") == set()  # a wildcard is a character, not a pattern


def test_list_items_carry_stored_columns_only(api: Api) -> None:
    enrollment_id = _enrolled(api)
    [item] = _listed(api, "lab")
    assert set(item) == {
        "id",
        "patient_id",
        "patient",
        "pathway",
        "version",
        "status",
        "flag",
        "phase",
        "steps_done",
        "steps_expected",
        "next_due_at",
        "enrolled_at",
        "updated_at",
    }
    assert (item["id"], item["status"], item["flag"]) == (enrollment_id, "active", "on_track")
    progress = _detail(api, enrollment_id)["progress"]
    assert item["next_due_at"] == progress["next_due"]
    assert (item["steps_done"], item["steps_expected"], item["phase"]) == (
        progress["done"],
        progress["expected"],
        progress["phase"],
    )
    assert item["steps_expected"] > 0
    assert item["patient"] == {"mrn": "MRN-E1", "display_name": "Patient MRN-E1"}


def test_progress_columns_move_as_tasks_are_completed(api: Api) -> None:
    enrollment_id = _enrolled(api)
    [before] = _listed(api)
    [task] = [
        t
        for t in api.call("GET", "/tasks", params={"enrollment": enrollment_id}).json()["items"]
        if t["step"] == "baseline_imaging"
    ]
    completed = api.call("POST", f"/tasks/{task['id']}/complete", "radiology", json={"data": {}})
    assert completed.status_code == 202, completed.text
    assert api.work() == 1
    [after] = _listed(api)
    assert after["steps_done"] == before["steps_done"] + 1
    assert after["steps_expected"] == before["steps_expected"]
    [done] = _detail(api, enrollment_id)["history"]
    assert (done["step"], done["ended"], done["role"]) == (
        "baseline_imaging",
        "completed",
        "radiology",
    )
    assert done["ready"] <= done["done"]
    assert "baseline_imaging" not in {
        row["step"] for row in _detail(api, enrollment_id, "timeline")["timeline"]
    }


def test_the_dashboard_role_never_sees_who_the_patient_is(api: Api) -> None:
    enrollment_id = _enrolled(api)
    [item] = _listed(api, "dashboard")
    assert item["patient"] is None
    assert _detail(api, enrollment_id)["patient"] is None
    shown = api.call("GET", f"/enrollments/{enrollment_id}", "navigator").json()
    assert shown["patient"] == {"mrn": "MRN-E1", "display_name": "Patient MRN-E1"}


def test_cursor_pages_cover_every_enrollment_once_in_due_order(api: Api) -> None:
    now = writes.now()  # three enrolled at one moment: equal due dates, ordered by id
    with SqlAlchemyUnitOfWork(api.engine) as uow:
        for n, pathway in enumerate(["chemotherapy"] * 3 + ["surveillance_imaging"]):
            patient = register_patient(uow, f"MRN-P{n}", f"Patient {n}", "kim", now)
            enrol(uow, patient.id, pathway, None, {}, {}, "kim", now)
        uow.commit()
    withdrawn = _enrolled(api, "MRN-S1", "radiation_sbrt")
    reason = {"reason": "moved away", "idempotency_key": "withdraw-1"}
    assert api.call("POST", f"/enrollments/{withdrawn}/withdraw", json=reason).status_code == 202
    assert api.work() == 1  # withdrawn: no next due date, so it sorts last

    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        body = api.call("GET", "/enrollments", "dashboard", params=params).json()
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert [len(page) for page in pages] == [2, 2, 1]
    paged = [item["id"] for page in pages for item in page]
    assert paged == [item["id"] for item in _listed(api, limit=200)]
    assert len(set(paged)) == 5 and paged[-1] == withdrawn
    keys = [(item["next_due_at"], item["id"]) for page in pages for item in page][:4]
    assert None not in dict(keys) and keys == sorted(keys)
    assert keys[0][0] == keys[1][0] == keys[2][0]  # the tie is broken by id across pages


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"cursor": "not-a-cursor"}, "cursor is not one this API issued"),
        ({"cursor": "eyJkdWUiOm51bGx9"}, "cursor is not one this API issued"),  # {"due":null}
        ({"cursor": "eyJkdWUiOiIyMDI2LTAxLTAxIiwiaWQiOiJ4In0"}, "cursor is not one this API"),
        ({"limit": 0}, "query.limit: Input should be greater than or equal to 1"),
        ({"limit": 201}, "query.limit: Input should be less than or equal to 200"),
        ({"status": "paused"}, "query.status: Input should be 'active'"),
        ({"flag": "late"}, "query.flag: Input should be 'on_track'"),
    ],
)
def test_bad_list_queries_get_a_422_problem(api: Api, params: dict[str, Any], detail: str) -> None:
    response = api.call("GET", "/enrollments", "dashboard", params=params)
    assert response.status_code == 422 and response.headers["content-type"] == PROBLEM
    assert detail in response.json()["detail"]


@pytest.mark.parametrize("path", ["", "/hold", "/resume", "/withdraw"])
def test_an_unknown_enrollment_is_a_404_problem(api: Api, path: str) -> None:
    method = "POST" if path else "GET"
    reason = {"reason": "x", "idempotency_key": "k"}
    response = api.call(method, f"/enrollments/nope{path}", json=reason if path else None)
    assert response.status_code == 404 and response.headers["content-type"] == PROBLEM
    assert response.json()["detail"] == "no enrollment nope"


def test_hold_then_resume_changes_the_status_once_a_worker_applies_them(api: Api) -> None:
    enrollment_id = _enrolled(api)
    hold = {"reason": "admitted to hospital", "idempotency_key": "hold-1"}
    first = api.call("POST", f"/enrollments/{enrollment_id}/hold", json=hold)
    again = api.call("POST", f"/enrollments/{enrollment_id}/hold", json=hold)
    assert (first.status_code, first.json()["created"]) == (202, True)
    assert again.json() == {"event": first.json()["event"], "created": False}
    assert _detail(api, enrollment_id)["status"] == "active"  # accepted, not yet applied
    assert api.work() == 1
    held = _detail(api, enrollment_id)
    assert (held["status"], held["flag"]) == ("on_hold", "on_hold")
    assert held["progress"]["expected"] > held["progress"]["done"]  # projected as if resumed

    resume = {"reason": "discharged", "idempotency_key": "resume-1"}
    assert api.call("POST", f"/enrollments/{enrollment_id}/resume", json=resume).status_code == 202
    assert api.work() == 1
    resumed = _detail(api, enrollment_id)
    assert resumed["status"] == "active"
    # Due dates shift by the time held, which may push the projected end past the plan.
    assert resumed["flag"] in ("on_track", "at_risk")


def test_a_resume_when_not_on_hold_is_accepted_then_rejected_by_the_engine(api: Api) -> None:
    enrollment_id = _enrolled(api)
    resume = {"reason": "discharged", "idempotency_key": "resume-1"}
    response = api.call("POST", f"/enrollments/{enrollment_id}/resume", json=resume)
    assert (response.status_code, response.json()["created"]) == (202, True)
    assert api.work() == 1
    assert _detail(api, enrollment_id)["status"] == "active"
    with SqlAlchemyUnitOfWork(api.engine) as uow:
        event = uow.session.get(PathwayEvent, response.json()["event"])
        assert event is not None and event.rejected_reason == "the enrollment is not on hold"


def test_a_withdrawn_enrollment_is_completed_with_nothing_left_to_do(api: Api) -> None:
    enrollment_id = _enrolled(api)
    withdraw = {"reason": "patient moved away", "idempotency_key": "withdraw-1"}
    response = api.call("POST", f"/enrollments/{enrollment_id}/withdraw", json=withdraw)
    assert response.status_code == 202
    assert api.work() == 1
    detail = _detail(api, enrollment_id, "timeline")
    assert (detail["status"], detail["flag"]) == ("withdrawn", "completed")
    progress = detail["progress"]
    assert progress["current"] == [] and progress["expected"] == progress["done"]
    assert progress["next_due"] is None and detail["timeline"] == []
    with SqlAlchemyUnitOfWork(api.engine) as uow:
        row = uow.session.exec(select(Enrollment)).one()
        assert (row.status, row.next_due_at) == ("withdrawn", None)


def test_an_idempotency_key_reused_for_another_action_is_a_409_problem(api: Api) -> None:
    enrollment_id = _enrolled(api)
    key = {"reason": "admitted", "idempotency_key": "nav-1"}
    assert api.call("POST", f"/enrollments/{enrollment_id}/hold", json=key).status_code == 202
    response = api.call("POST", f"/enrollments/{enrollment_id}/withdraw", json=key)
    assert response.status_code == 409 and response.headers["content-type"] == PROBLEM
    assert response.json()["detail"].startswith("idempotency key 'nav-1' was used for a hold")
    assert api.work() == 1 and _detail(api, enrollment_id)["status"] == "on_hold"


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"idempotency_key": "k"}, "body.reason: Field required"),
        ({"reason": "   ", "idempotency_key": "k"}, "body.reason: String should have at least 1"),
        ({"reason": "x" * 301, "idempotency_key": "k"}, "body.reason: String should have at most"),
        ({"reason": "admitted"}, "body.idempotency_key: Field required"),
        ({"reason": "x", "idempotency_key": "k", "until": "2027"}, "body.until: Extra inputs"),
    ],
)
def test_bad_hold_bodies_get_a_422_problem_and_queue_nothing(
    api: Api, body: dict[str, Any], detail: str
) -> None:
    enrollment_id = _enrolled(api)
    response = api.call("POST", f"/enrollments/{enrollment_id}/hold", json=body)
    assert response.status_code == 422 and response.headers["content-type"] == PROBLEM
    assert detail in response.json()["detail"]
    assert api.queued == []


def test_a_patients_enrollments_are_found_by_the_patient(api: Api) -> None:
    patient_id = _patient(api, "MRN-P1", "Pat Twice")
    first = _enrol(api, patient_id, "p1-chemo").json()["id"]
    second = _enrol(api, patient_id, "p1-sbrt", "radiation_sbrt").json()["id"]
    _enrolled(api, "MRN-P2")  # someone else's

    listed = _listed(api, patient=patient_id)
    assert sorted(item["id"] for item in listed) == sorted([first, second])
    assert _listed(api, patient="no-such-patient") == []

    shown = api.call("GET", f"/patients/{patient_id}")
    assert shown.status_code == 200, shown.text
    enrollments = shown.json()["enrollments"]
    assert [(e["id"], e["pathway"]) for e in enrollments] == [
        (first, "chemotherapy"),
        (second, "radiation_sbrt"),
    ]
    assert {e["status"] for e in enrollments} == {"active"}
