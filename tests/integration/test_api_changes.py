"""/changes over HTTP: a feed of enrollment and task changes, polled with a moving cursor."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

import pytest
from fastapi import FastAPI
from sqlmodel import select

from api.routes import changes
from pathways.store.enrollments import enrol, register_patient
from pathways.store.tables import StaffTask
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork
from tests.integration.api_support import Api
from workers import jobs


@pytest.fixture
def feed(api: Api) -> Api:
    """The API with the changes router (included here until the app wires it)."""
    app = cast(FastAPI, api.client.app)
    if "/changes" not in {getattr(route, "path", None) for route in app.routes}:
        app.include_router(changes.router)
    return api


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """No visibility margin: changes are served as soon as they are committed."""
    monkeypatch.setattr(changes, "VISIBILITY_MARGIN", timedelta(0))


def _enrolled(api: Api, mrn: str = "MRN-C1") -> str:
    with SqlAlchemyUnitOfWork(api.engine) as uow:
        patient = register_patient(uow, mrn, f"Patient {mrn}", "kim", jobs.now())
        enrollment = enrol(uow, patient.id, "chemotherapy", None, {}, {}, "kim", jobs.now())
        uow.commit()
    return enrollment.id


def _page(api: Api, role: str = "dashboard", **params: Any) -> dict[str, Any]:
    response = api.call("GET", "/changes", role, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_an_enrolment_and_then_a_task_completion_appear_in_order_with_a_moving_cursor(
    feed: Api, settled: None
) -> None:
    enrollment_id = _enrolled(feed)
    first = _page(feed)
    kinds = [(item["kind"], item["status"]) for item in first["items"]]
    assert kinds[0] == ("task", "ready") and ("enrollment", "active") in kinds
    assert [item["kind"] for item in first["items"]].count("task") == 4  # the baseline work-up
    ids = [item["id"] for item in first["items"]]
    assert ids == sorted(ids) and first["next_cursor"] == f"c{ids[-1]}"
    assert {item["enrollment_id"] for item in first["items"]} == {enrollment_id}
    assert "Patient MRN-C1" not in str(first) and "MRN-C1" not in str(first)

    with SqlAlchemyUnitOfWork(feed.engine) as uow:
        labs = uow.session.exec(select(StaffTask.id).where(StaffTask.step == "baseline_labs")).one()
    done = feed.call(
        "POST", f"/tasks/{labs}/complete", "lab", json={"data": {"anc": 2000, "platelets": 1e5}}
    )
    assert done.status_code == 202, done.text
    assert feed.work() == 1
    second = _page(feed, after=first["next_cursor"])
    assert [(item["kind"], item["target_id"], item["status"]) for item in second["items"]] == [
        ("task", labs, "completed")
    ]
    assert second["items"][0]["id"] > ids[-1]
    assert second["next_cursor"] == f"c{second['items'][0]['id']}"


def test_polling_again_with_the_last_cursor_returns_nothing_new_and_the_same_cursor(
    feed: Api, settled: None
) -> None:
    _enrolled(feed)
    cursor = _page(feed)["next_cursor"]
    again = _page(feed, after=cursor)
    assert again == {"items": [], "next_cursor": cursor}
    assert _page(feed, "navigator", after=cursor)["items"] == []


def test_a_page_holds_at_most_limit_changes_and_the_next_page_goes_on(
    feed: Api, settled: None
) -> None:
    _enrolled(feed)
    every = [item["id"] for item in _page(feed)["items"]]
    first = _page(feed, limit=2)
    assert [item["id"] for item in first["items"]] == every[:2]
    rest = _page(feed, after=first["next_cursor"], limit=500)
    assert [item["id"] for item in rest["items"]] == every[2:]


def test_changes_younger_than_the_visibility_margin_wait_for_the_next_poll(feed: Api) -> None:
    # A transaction that took an earlier id may still commit: recent changes are held back.
    _enrolled(feed)
    assert _page(feed) == {"items": [], "next_cursor": "c0"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(changes, "VISIBILITY_MARGIN", timedelta(0))
        assert len(_page(feed)["items"]) == 5


def test_the_feed_needs_a_token(feed: Api) -> None:
    response = feed.client.get("/changes")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "params",
    [{"after": "x1"}, {"after": "c"}, {"after": "c-1"}, {"after": "c1x"}, {"after": "c\u0661"}],
)
def test_a_cursor_this_api_did_not_issue_is_a_422_problem(
    feed: Api, params: dict[str, str]
) -> None:
    response = feed.call("GET", "/changes", "dashboard", params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "cursor is not one this API issued" in response.json()["detail"]


@pytest.mark.parametrize("limit", [0, 501, "many"])
def test_a_limit_outside_1_to_500_is_a_422_problem(feed: Api, limit: object) -> None:
    response = feed.call("GET", "/changes", "dashboard", params={"limit": limit})
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("query.limit")
