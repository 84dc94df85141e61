"""Authentication, roles and problem details, on the endpoints every client meets first."""

from __future__ import annotations

import pytest

from tests.integration.api_support import Api


def test_health_needs_no_token(api: Api) -> None:
    assert api.client.get("/health").json() == {"status": "ok"}


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", "Basic abc", "Bearer "])
def test_a_missing_or_wrong_token_gets_a_401_problem(api: Api, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = api.client.get("/enrollments", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert body["status"] == 401 and "carepath token create" in body["detail"]


def test_a_revoked_role_cannot_act_beyond_its_permissions(api: Api) -> None:
    enrollment_id = api.enrolled()
    event = {"type": "hold", "data": {"reason": "admitted"}, "idempotency_key": "k1"}
    for role in ("dashboard", "lab"):
        response = api.call("POST", f"/enrollments/{enrollment_id}/events", role, json=event)
        assert response.status_code == 403, role
        assert response.json()["detail"] == f"the {role} role may not navigate"
    assert api.queued == []


def test_a_navigators_event_is_accepted_once_and_applied_by_a_worker(api: Api) -> None:
    enrollment_id = api.enrolled()
    event = {"type": "hold", "data": {"reason": "admitted"}, "idempotency_key": "k1"}
    first = api.call("POST", f"/enrollments/{enrollment_id}/events", json=event)
    again = api.call("POST", f"/enrollments/{enrollment_id}/events", json=event)
    assert (first.status_code, first.json()["created"]) == (202, True)
    assert (again.status_code, again.json()["created"]) == (202, False)
    assert api.work() == 1
    listed = api.call("GET", "/enrollments", "dashboard").json()["items"]
    assert [e["status"] for e in listed] == ["on_hold"]


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"type": "hold", "data": {}}, 422, "body.idempotency_key: Field required"),
        ({"type": "", "idempotency_key": "k"}, 422, "body.type: String should have at least 1"),
        (
            {"type": "hold", "data": {"why": "x"}, "idempotency_key": "k"},
            422,
            "a hold event takes reason; missing reason; unexpected why",
        ),
        (
            {
                "type": "adverse_event",
                "data": {"term": "nausea", "grade": "3"},
                "idempotency_key": "k",
            },
            422,
            "the grade of an adverse event is an integer",
        ),
    ],
)
def test_bad_events_get_a_problem_naming_the_field_and_change_nothing(
    api: Api,
    body: dict[str, object],
    status: int,
    detail: str,
) -> None:
    enrollment_id = api.enrolled()
    response = api.call("POST", f"/enrollments/{enrollment_id}/events", json=body)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert detail in response.json()["detail"]
    assert api.queued == []


def test_an_event_for_an_unknown_enrollment_is_a_404_problem(api: Api) -> None:
    response = api.call(
        "POST",
        "/enrollments/nope/events",
        json={"type": "hold", "data": {"reason": "x"}, "idempotency_key": "k"},
    )
    assert response.status_code == 404 and response.json()["detail"] == "no enrollment nope"
