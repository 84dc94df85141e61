"""The audit trail: GET /audit for admins, and an audit row for each patient a response shows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlmodel import Session, col, select

from pathways.store.tables import AuditLog, StaffTask
from tests.integration.api_support import Api


def _reads(api: Api) -> list[tuple[str, str, str]]:
    """Who read which patient, through which path, oldest first."""
    with Session(api.engine) as session:
        rows = session.exec(
            select(AuditLog).where(AuditLog.action == "patient_read").order_by(col(AuditLog.id))
        )
        return [(row.actor, row.target_id, row.detail["via"]) for row in rows]


def _patient(api: Api, enrollment_id: str) -> str:
    found: str = api.call("GET", f"/enrollments/{enrollment_id}", "dashboard").json()["patient_id"]
    return found


@pytest.fixture
def inserts(api: Api) -> Iterator[list[str]]:
    """Every INSERT statement into audit_log the API's engine runs."""
    seen: list[str] = []

    def count(*args: Any) -> None:
        statement = args[2]
        if statement.lstrip().upper().startswith("INSERT INTO AUDIT_LOG"):
            seen.append(statement)

    event.listen(api.engine, "before_cursor_execute", count)
    yield seen
    event.remove(api.engine, "before_cursor_execute", count)


def test_reading_an_enrollment_is_audited_once_and_not_again_when_not_modified(
    api: Api,
) -> None:
    enrollment = api.enrolled()
    patient = _patient(api, enrollment)
    assert _reads(api) == []  # the dashboard saw no patient
    first = api.call("GET", f"/enrollments/{enrollment}")
    assert _reads(api) == [("navigator.tester", patient, f"GET /enrollments/{enrollment}")]
    again = api.call(
        "GET", f"/enrollments/{enrollment}", headers={"If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304
    assert len(_reads(api)) == 1


def test_every_read_that_shows_a_patient_is_audited_and_errors_are_not(api: Api) -> None:
    enrollment = api.enrolled()
    patient = _patient(api, enrollment)
    with Session(api.engine) as session:
        task = session.exec(select(StaffTask.id).where(StaffTask.role == "lab")).first()
    paths = [
        f"/patients/{patient}",
        "/patients?mrn=MRN-A1",
        f"/enrollments/{enrollment}/events",
        f"/tasks/{task}",
    ]
    for path in paths:
        assert api.call("GET", path, "lab").status_code == 200, path
    assert api.call("GET", "/patients/nobody").status_code == 404
    assert api.call("GET", "/patients?mrn=MRN-NONE").json() == []
    assert _reads(api) == [
        ("lab.tester", patient, f"GET {path.partition('?')[0]}") for path in paths
    ]
    registered = api.call("POST", "/patients", json={"mrn": "MRN-A1", "display_name": "Other"})
    assert registered.status_code == 200  # an existing patient shown back: a read
    assert _reads(api)[-1] == ("navigator.tester", patient, "POST /patients")


def test_a_page_of_patients_is_audited_with_one_insert_of_a_row_each(
    api: Api, inserts: list[str]
) -> None:
    enrollments = [api.enrolled(f"MRN-{n}") for n in range(3)]
    patients = {_patient(api, enrollment) for enrollment in enrollments}
    inserts.clear()
    page = api.call("GET", "/enrollments?limit=10")
    assert len(page.json()["items"]) == 3
    assert len(inserts) == 1
    assert {patient for _, patient, _ in _reads(api)} == patients
    inserts.clear()
    assert api.call("GET", "/enrollments?limit=10", "dashboard").status_code == 200
    assert inserts == []


def test_an_audit_row_holds_ids_only_never_what_was_searched(api: Api) -> None:
    api.enrolled("MRN-SECRET")
    assert len(api.call("GET", "/enrollments?text=MRN-SECRET").json()["items"]) == 1
    with Session(api.engine) as session:
        rows = session.exec(select(AuditLog).where(AuditLog.action == "patient_read")).all()
    assert rows and all("SECRET" not in repr(row.model_dump()) for row in rows)


def test_the_audit_trail_is_for_admins_only(api: Api) -> None:
    for role in ("navigator", "dashboard", "lab"):
        refused = api.call("GET", "/audit", role)
        assert refused.status_code == 403, role
        assert refused.headers["content-type"] == "application/problem+json"
    assert api.client.get("/audit").status_code == 401


def test_the_audit_trail_pages_newest_first_by_cursor_and_filters(api: Api) -> None:
    enrollments = [api.enrolled(f"MRN-{n}") for n in range(3)]
    for enrollment in enrollments:
        api.call("GET", f"/enrollments/{enrollment}")
    reads = api.call("GET", "/audit?action=patient_read&limit=2", "admin").json()
    assert [item["action"] for item in reads["items"]] == ["patient_read"] * 2
    ids = [item["id"] for item in reads["items"]]
    assert ids == sorted(ids, reverse=True) and reads["next_cursor"]
    rest = api.call(
        "GET", f"/audit?action=patient_read&limit=2&cursor={reads['next_cursor']}", "admin"
    )
    assert [item["id"] for item in rest.json()["items"]] == [ids[-1] - 1]
    assert rest.json()["next_cursor"] is None
    patient = _patient(api, enrollments[0])
    mine = api.call(
        "GET", f"/audit?target_type=patient&target_id={patient}&actor=navigator.tester", "admin"
    ).json()["items"]
    assert {(item["action"], item["target_id"]) for item in mine} == {("patient_read", patient)}
    since = mine[0]["at"].replace("+00:00", "Z")
    assert api.call("GET", f"/audit?since={since}&action=patient_read", "admin").json()["items"]
    future = api.call("GET", "/audit?since=2999-01-01T00:00:00Z", "admin").json()
    assert future == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("cursor=zz", "cursor"),
        ("cursor=a" + "9" * 30, "cursor"),
        ("since=0001-01-01T00:00:00%2B05:00", "since"),
        ("since=2026-12-01T08:00:00", "since"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
    ],
)
def test_a_bad_audit_query_is_refused_with_a_problem_naming_it(
    api: Api, query: str, field: str
) -> None:
    refused = api.call("GET", f"/audit?{query}", "admin")
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert field in refused.json()["detail"]


def test_publishing_and_token_events_are_in_the_trail(api: Api, engine: Engine) -> None:
    created = api.call("GET", "/audit?action=token_created&target_type=api_token", "admin")
    roles = {item["detail"]["role"] for item in created.json()["items"]}
    assert {"navigator", "lab", "dashboard"} <= roles
