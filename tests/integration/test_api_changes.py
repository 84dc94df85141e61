"""/changes over HTTP: a feed of enrollment and task changes, polled with a moving cursor."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from api.routes import changes
from pathways.store.tables import StaffTask
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork
from tests.integration.api_support import Api


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """No visibility margin: changes are served as soon as they are committed."""
    monkeypatch.setattr(changes, "VISIBILITY_MARGIN", timedelta(0))


def _page(api: Api, role: str = "dashboard", **params: Any) -> dict[str, Any]:
    response = api.call("GET", "/changes", role, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_an_enrolment_and_then_a_task_completion_appear_in_order_with_a_moving_cursor(
    api: Api, settled: None
) -> None:
    enrollment_id = api.enrolled()
    first = _page(api)
    kinds = [(item["kind"], item["status"]) for item in first["items"]]
    assert kinds[0] == ("task", "ready") and ("enrollment", "active") in kinds
    assert [item["kind"] for item in first["items"]].count("task") == 4  # the baseline work-up
    ids = [item["id"] for item in first["items"]]
    assert ids == sorted(ids) and first["next_cursor"] == f"c{ids[-1]}"
    assert {item["enrollment_id"] for item in first["items"]} == {enrollment_id}
    assert "Patient MRN-C1" not in str(first) and "MRN-C1" not in str(first)

    with SqlAlchemyUnitOfWork(api.engine) as uow:
        labs = uow.session.exec(select(StaffTask.id).where(StaffTask.step == "baseline_labs")).one()
    done = api.call(
        "POST", f"/tasks/{labs}/complete", "lab", json={"data": {"anc": 2000, "platelets": 1e5}}
    )
    assert done.status_code == 202, done.text
    assert api.work() == 1
    second = _page(api, after=first["next_cursor"])
    assert [(item["kind"], item["target_id"], item["status"]) for item in second["items"]] == [
        ("task", labs, "completed")
    ]
    assert second["items"][0]["id"] > ids[-1]
    assert second["next_cursor"] == f"c{second['items'][0]['id']}"


def test_polling_again_with_the_last_cursor_returns_nothing_new_and_the_same_cursor(
    api: Api, settled: None
) -> None:
    api.enrolled()
    cursor = _page(api)["next_cursor"]
    again = _page(api, after=cursor)
    assert again == {"items": [], "next_cursor": cursor}
    assert _page(api, "navigator", after=cursor)["items"] == []


def test_a_page_holds_at_most_limit_changes_and_the_next_page_goes_on(
    api: Api, settled: None
) -> None:
    api.enrolled()
    every = [item["id"] for item in _page(api)["items"]]
    first = _page(api, limit=2)
    assert [item["id"] for item in first["items"]] == every[:2]
    rest = _page(api, after=first["next_cursor"], limit=500)
    assert [item["id"] for item in rest["items"]] == every[2:]


def test_changes_younger_than_the_visibility_margin_wait_for_the_next_poll(api: Api) -> None:
    # A transaction that took an earlier id may still commit: recent changes are held back.
    api.enrolled()
    assert _page(api) == {"items": [], "next_cursor": "c0"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(changes, "VISIBILITY_MARGIN", timedelta(0))
        assert len(_page(api)["items"]) == 5


def test_the_feed_needs_a_token(api: Api) -> None:
    response = api.client.get("/changes")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "params",
    [{"after": "x1"}, {"after": "c"}, {"after": "c-1"}, {"after": "c1x"}, {"after": "c\u0661"}],
)
def test_a_cursor_this_api_did_not_issue_is_a_422_problem(api: Api, params: dict[str, str]) -> None:
    response = api.call("GET", "/changes", "dashboard", params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "cursor is not one this API issued" in response.json()["detail"]


@pytest.mark.parametrize("limit", [0, 501, "many"])
def test_a_limit_outside_1_to_500_is_a_422_problem(api: Api, limit: object) -> None:
    response = api.call("GET", "/changes", "dashboard", params={"limit": limit})
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("query.limit")
