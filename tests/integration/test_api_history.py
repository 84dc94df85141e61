"""An enrollment's event history, and /me: who a token stands for and what it may do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.integration.api_support import Api


def test_history_lists_events_newest_first_with_their_outcomes(api: Api) -> None:
    enrollment_id = api.enrolled()
    hold = {"reason": "admitted", "idempotency_key": "hold-1"}
    assert api.call("POST", f"/enrollments/{enrollment_id}/hold", json=hold).status_code == 202
    again = {"reason": "still admitted", "idempotency_key": "hold-2"}
    assert api.call("POST", f"/enrollments/{enrollment_id}/hold", json=again).status_code == 202
    waiting = api.call("GET", f"/enrollments/{enrollment_id}/events").json()["items"]
    assert [(e["type"], e["outcome"]) for e in waiting] == [
        ("hold", "waiting"),
        ("hold", "waiting"),
        ("enrolled", "applied"),
    ]
    assert api.work() == 2
    history = api.call("GET", f"/enrollments/{enrollment_id}/events").json()["items"]
    assert [(e["type"], e["outcome"]) for e in history] == [
        ("hold", "rejected"),
        ("hold", "applied"),
        ("enrolled", "applied"),
    ]
    assert history[0]["reason"] and history[1]["reason"] is None
    assert (
        history[1]["data"] == {"reason": "admitted"} and history[1]["actor"] == "navigator.tester"
    )
    shown = api.call("GET", f"/enrollments/{enrollment_id}/events", "dashboard").json()["items"]
    assert [e["data"] for e in shown] == [None, None, None]
    newest = api.call("GET", f"/enrollments/{enrollment_id}/events", params={"limit": 1}).json()
    assert [e["type"] for e in newest["items"]] == ["hold"] and newest["next_cursor"]


def test_history_of_an_unknown_enrollment_is_a_404_problem(api: Api) -> None:
    response = api.call("GET", "/enrollments/nope/events")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_me_names_the_role_and_what_it_may_do(api: Api) -> None:
    navigator = api.call("GET", "/me").json()
    lifetime = datetime.fromisoformat(navigator.pop("expires_at")) - datetime.now(UTC)
    assert timedelta(days=89) < lifetime <= timedelta(days=90)
    assert navigator == {
        "actor": "navigator.tester",
        "role": "navigator",
        "permissions": ["read", "queue", "work", "navigate"],
        "sees_patients": True,
    }
    dashboard = api.call("GET", "/me", "dashboard").json()
    assert (dashboard["permissions"], dashboard["sees_patients"]) == (["read"], False)
    lab = api.call("GET", "/me", "lab").json()
    assert (lab["role"], lab["permissions"]) == ("lab", ["read", "queue", "work"])
    assert api.call("GET", "/me", "admin").json()["permissions"] == [
        "read",
        "queue",
        "work",
        "navigate",
        "publish",
        "audit",
    ]
    refused = api.client.get("/me", headers={"Authorization": "Bearer not-a-token"})
    assert refused.status_code == 401
