"""Bad input at the edge of the API: every one is a problem naming the field, and nothing stored."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.integration.api_support import ADMIN_TOKEN, Api

HOLD = {"type": "hold", "data": {"reason": "admitted"}, "idempotency_key": "h1"}


def _problem(response: Any, status: int, *fragments: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    for fragment in fragments:
        assert fragment in body["detail"], body
    return body


def _raw(api: Api, path: str, text: str | bytes, role: str = "navigator") -> Any:
    content = text.encode() if isinstance(text, str) else text
    headers = {"Content-Type": "application/json"}
    return api.call("POST", path, role, content=content, headers=headers)


def _stored_events(api: Api, enrollment_id: str) -> list[str]:
    history = api.call("GET", f"/enrollments/{enrollment_id}/events")
    assert history.status_code == 200
    return [event["type"] for event in history.json()["items"]]


# -- NUL characters and lone surrogates ---------------------------------------------------------


def test_a_nul_in_a_hold_reason_is_refused_with_422_naming_the_field(api: Api) -> None:
    enrollment_id = api.enrolled()
    body = {"reason": "admit\u0000ted", "idempotency_key": "h1"}
    _problem(api.call("POST", f"/enrollments/{enrollment_id}/hold", json=body), 422, "body.reason")
    assert api.queued == [] and _stored_events(api, enrollment_id) == ["enrolled"]


def test_a_nul_in_a_path_or_a_query_parameter_is_refused_with_422(api: Api) -> None:
    _problem(api.call("GET", "/enrollments/abc%00def"), 422, "path", "NUL")
    _problem(api.call("GET", "/enrollments", params={"text": "a\u0000b"}), 422, "query.text")
    _problem(api.call("GET", "/patients", params={"mrn": "\u0000"}), 422, "query.mrn")


def test_a_lone_surrogate_in_event_data_is_refused_and_the_history_still_reads(api: Api) -> None:
    enrollment_id = api.enrolled()
    text = (
        '{"type": "lab_result", "data": {"test": "anc", "value": 1.2, "unit": "\\ud800"},'
        ' "idempotency_key": "k1"}'
    )
    _problem(_raw(api, f"/enrollments/{enrollment_id}/events", text), 422, "body.data.unit")
    assert api.queued == [] and _stored_events(api, enrollment_id) == ["enrolled"]


def test_a_lone_surrogate_in_a_key_is_refused_with_422(api: Api) -> None:
    text = '{"mrn": "M1", "display_name": "A", "\\udfff": 1}'
    _problem(_raw(api, "/patients", text), 422, "surrogate")


# -- numbers --------------------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_numbers_json_allows_but_no_clinic_value_is_are_refused(api: Api, number: str) -> None:
    enrollment_id = api.enrolled()
    data = '{"test": "anc", "value": ' + number + "}"
    text = '{"type": "lab_result", "data": ' + data + ', "idempotency_key": "k"}'
    _problem(_raw(api, f"/enrollments/{enrollment_id}/events", text), 422, "body.data.value")
    assert api.queued == []


def test_an_integer_beyond_64_bits_is_refused_with_the_allowed_range(api: Api) -> None:
    patient = api.call("POST", "/patients", json={"mrn": "M-64", "display_name": "A"}).json()
    body = {
        "patient_id": patient["id"],
        "pathway": "chemotherapy",
        "version": 2**64,
        "idempotency_key": "e1",
    }
    _problem(
        api.call("POST", "/enrollments", json=body), 422, "body.version", "9223372036854775807"
    )
    event = {"type": "adverse_event", "data": {"term": "nausea", "grade": 10**30}}
    enrollment_id = api.enrolled()
    _problem(
        api.call(
            "POST", f"/enrollments/{enrollment_id}/events", json={**event, "idempotency_key": "k"}
        ),
        422,
        "body.data.grade",
        "64 bits",
    )


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/changes?after=c99999999999999999999999", "cursor"),
        ("/enrollments?limit=100000000000000000000000000000", "query.limit"),
        ("/pathways/chemotherapy/versions/99999999999999999999", "path"),
    ],
)
def test_a_path_or_query_number_beyond_64_bits_is_a_422(api: Api, path: str, field: str) -> None:
    _problem(api.call("GET", path), 422, field)


def test_a_long_digit_string_in_a_query_is_text_not_a_number(api: Api) -> None:
    found = api.call("GET", "/patients", params={"mrn": "1" * 30})
    assert (found.status_code, found.json()) == (200, [])


# -- depth, encoding, size, width -----------------------------------------------------------------


def test_deeply_nested_json_is_a_422_not_a_crash(api: Api) -> None:
    enrollment_id = api.enrolled()
    text = '{"type": "x", "data": {"a": ' + "[" * 10_000 + "]" * 10_000 + "}}"
    _problem(_raw(api, f"/enrollments/{enrollment_id}/events", text), 422, "deeper than 32")


def test_a_body_that_is_not_utf8_is_a_400(api: Api) -> None:
    _problem(_raw(api, "/patients", b'{"mrn": "\xff\xfe"}'), 400, "UTF-8")


def test_a_body_over_the_limit_is_a_413_and_nothing_is_stored(api: Api) -> None:
    enrollment_id = api.enrolled()
    event = {"type": "hold", "data": {"reason": "x" * 5_000_000}, "idempotency_key": "big"}
    response = api.call("POST", f"/enrollments/{enrollment_id}/events", json=event)
    _problem(response, 413, "1048576 bytes", "CAREPATH_MAX_BODY_BYTES")
    assert api.queued == [] and _stored_events(api, enrollment_id) == ["enrolled"]


def test_the_body_limit_is_a_setting(api: Api) -> None:
    small = create_app(api.engine, api.queued.append, ADMIN_TOKEN, body_limit=2048)
    with TestClient(small) as client:
        headers = api.headers("navigator")
        body = {"mrn": "M-small", "display_name": "x" * 3000}
        _problem(client.post("/patients", json=body, headers=headers), 413, "2048 bytes")
        fits = client.post("/patients", json={**body, "display_name": "Ann"}, headers=headers)
        assert fits.status_code == 201


def test_event_data_with_too_many_keys_is_refused(api: Api) -> None:
    enrollment_id = api.enrolled()
    data = {f"k{index}": index for index in range(50_000)}
    event = {"type": "lab_result", "data": data, "idempotency_key": "wide"}
    response = api.call("POST", f"/enrollments/{enrollment_id}/events", json=event)
    _problem(response, 422, "body.data", "at most 200")
    assert api.queued == []


# -- durations and parameters ---------------------------------------------------------------------


def test_an_overlong_duration_parameter_is_a_422_naming_it_and_the_maximum(api: Api) -> None:
    patient = api.call("POST", "/patients", json={"mrn": "M-D", "display_name": "A"}).json()
    body = {
        "patient_id": patient["id"],
        "pathway": "surveillance_imaging",
        "parameters": {"interval": "P99999999Y"},
        "idempotency_key": "d1",
    }
    _problem(api.call("POST", "/enrollments", json=body), 422, "interval", "P100Y")
    assert api.call("GET", "/enrollments").json()["items"] == []


# -- unmatched routes, crashes and a broker that is down ------------------------------------------


def test_an_unknown_path_and_a_wrong_method_are_problems(api: Api) -> None:
    _problem(api.call("GET", "/no/such/thing"), 404, "/no/such/thing")
    wrong = _problem(api.call("DELETE", "/health"), 405, "DELETE", "GET")
    assert wrong["status"] == 405


def test_an_unknown_query_parameter_is_refused_naming_it_and_those_taken(api: Api) -> None:
    misspelt = api.call("GET", "/enrollments?stauts=active")  # the filter is `status`
    assert misspelt.status_code == 422
    assert misspelt.headers["content-type"] == "application/problem+json"
    detail = misspelt.json()["detail"]
    assert detail.startswith("unknown query parameter 'stauts' for GET /enrollments: it takes ")
    assert "status" in detail and "cursor" in detail
    assert api.call("GET", "/enrollments?status=active").status_code == 200
    task_queue = api.call("GET", "/tasks?role=lab&colour=red")
    assert task_queue.status_code == 422 and "'colour'" in task_queue.json()["detail"]
    assert api.call("GET", "/pathways?limit=5").json()["detail"].endswith("it takes none")


def test_an_unexpected_error_is_a_500_problem_without_internals(api: Api) -> None:
    app: Any = api.client.app

    @app.get("/explode")
    def explode() -> None:
        raise RuntimeError("secret internals of MRN-A1")

    body = _problem(api.call("GET", "/explode"), 500, "unexpected error")
    assert "MRN-A1" not in json.dumps(body) and "RuntimeError" not in json.dumps(body)


def test_an_event_stored_while_the_broker_is_down_is_still_accepted(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    def broker_down(_event: int) -> None:
        raise ConnectionError("redis is down")

    down = create_app(api.engine, broker_down, ADMIN_TOKEN)
    enrollment_id = api.enrolled()
    with TestClient(down) as client, caplog.at_level(logging.WARNING, "pathways.service.recording"):
        response = client.post(
            f"/enrollments/{enrollment_id}/events", json=HOLD, headers=api.headers("navigator")
        )
    assert (response.status_code, response.json()["created"]) == (202, True)
    history = api.call("GET", f"/enrollments/{enrollment_id}/events").json()["items"]
    assert (history[0]["type"], history[0]["outcome"]) == ("hold", "waiting")
    # The operators learn which event waits for the sweep; never what it says.
    assert f"event {response.json()['event']} of enrollment {enrollment_id}" in caplog.text
    assert "admitted" not in caplog.text


# -- what an enrollment takes from people ---------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "data", "fragment"),
    [
        ("timer_fired", {"timer": "W1"}, "send one of: adverse_event"),
        ("surgical_complication", {"kind": "bleeding"}, "'surgical_complication' is not an event"),
        ("task_completed", {"task": "T1", "data": {}}, "complete the task instead"),
    ],
)
def test_events_people_do_not_send_are_refused_naming_the_allowed_types(
    api: Api, event_type: str, data: dict[str, Any], fragment: str
) -> None:
    enrollment_id = api.enrolled()
    event = {"type": event_type, "data": data, "idempotency_key": "forged"}
    _problem(api.call("POST", f"/enrollments/{enrollment_id}/events", json=event), 422, fragment)
    assert api.queued == [] and _stored_events(api, enrollment_id) == ["enrolled"]


@pytest.mark.parametrize("grade", [True, -7, 0, 6, 2.5, "3"])
def test_an_adverse_event_grade_must_be_an_integer_from_1_to_5(api: Api, grade: object) -> None:
    enrollment_id = api.enrolled()
    event = {"type": "adverse_event", "data": {"term": "nausea", "grade": grade}}
    response = api.call(
        "POST", f"/enrollments/{enrollment_id}/events", json={**event, "idempotency_key": "g"}
    )
    _problem(response, 422, "grade", "1 to 5")
    assert api.queued == []


def test_a_pathways_own_event_is_typed_as_the_pathway_declares(api: Api) -> None:
    enrollment_id = api.enrolled(pathway="surgery", patient={"smoker": False})
    url = f"/enrollments/{enrollment_id}/events"
    wrong = {"type": "surgical_complication", "data": {"kind": "dragons"}, "idempotency_key": "c1"}
    _problem(api.call("POST", url, json=wrong), 422, "'dragons' is not one of")
    right = {**wrong, "data": {"kind": "bleeding", "details": "minor"}, "idempotency_key": "c2"}
    assert api.call("POST", url, json=right).status_code == 202


def test_an_event_for_an_ended_enrollment_is_a_409(api: Api) -> None:
    enrollment_id = api.enrolled()
    withdraw = {"reason": "moved away", "idempotency_key": "w1"}
    assert (
        api.call("POST", f"/enrollments/{enrollment_id}/withdraw", json=withdraw).status_code == 202
    )
    api.work()
    _problem(api.call("POST", f"/enrollments/{enrollment_id}/events", json=HOLD), 409, "withdrawn")
    again = api.call("POST", f"/enrollments/{enrollment_id}/withdraw", json=withdraw)
    assert (again.status_code, again.json()["created"]) == (202, False)  # a retry, not a new event
