"""Dashboards poll cheaply: GET answers carry an ETag, and an unchanged answer is a 304."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event
from sqlmodel import Session, select

from pathways.store.tables import AuditLog
from tests.integration.api_support import Api


def test_an_unchanged_answer_is_a_304_and_a_change_gives_a_new_etag(api: Api) -> None:
    first = api.call("GET", "/pathways", "dashboard")
    tag = first.headers["etag"]
    assert first.status_code == 200 and tag.startswith('W/"')
    assert first.headers["cache-control"] == "no-cache"
    again = api.call("GET", "/pathways", "dashboard", headers={"If-None-Match": tag})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", tag)
    admin = api.call("GET", "/pathways/chemotherapy", "admin")
    text = api.client.get("/pathways/chemotherapy/diagram", headers=api.headers("admin")).text
    assert admin.status_code == 200 and text.startswith("flowchart")
    changed = api.call("GET", "/enrollments", "dashboard", headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["etag"] != tag


def test_errors_and_writes_carry_no_etag(api: Api) -> None:
    missing = api.call("GET", "/enrollments/nope", "dashboard")
    assert missing.status_code == 404 and "etag" not in missing.headers
    posted = api.call("POST", "/patients", json={"mrn": "MRN-E1", "display_name": "E"})
    assert posted.status_code == 201 and "etag" not in posted.headers


@contextmanager
def _statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements run on `engine` inside the block."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _reads(api: Api) -> int:
    with Session(api.engine) as session:
        rows = session.exec(select(AuditLog).where(AuditLog.action == "patient_read"))
        return len(list(rows))


def test_a_poll_of_an_unchanged_enrollment_is_answered_from_its_version_alone(api: Api) -> None:
    enrollment_id = api.enrolled()
    path = f"/enrollments/{enrollment_id}"
    first = api.call("GET", path, "navigator")
    tag = first.headers["etag"]
    assert first.status_code == 200 and first.json()["patient"] is not None
    audited = _reads(api)
    assert audited == 1  # the 200 showed the patient to a navigator
    with _statements(api.engine) as ran:
        again = api.call("GET", path, "navigator", headers={"If-None-Match": tag})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", tag)
    # One statement: the write version, by primary key. No token look-up (it was checked a
    # moment ago), no state, no definition, no tasks, no patient, and no audit row: a 304
    # showed nobody.
    [probe] = [sql for sql in ran if sql not in ("BEGIN", "COMMIT", "ROLLBACK")]
    assert "enrollment.version" in probe and "enrollment.state" not in probe
    assert _reads(api) == audited
    hold = {"reason": "patient unwell", "idempotency_key": "hold-1"}
    assert api.call("POST", f"{path}/hold", json=hold).status_code == 202
    assert api.work() == 1
    changed = api.call("GET", path, "navigator", headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["etag"] != tag
    assert changed.json()["status"] == "on_hold"


def test_the_tag_tells_apart_what_was_included_and_who_asks(api: Api) -> None:
    path = f"/enrollments/{api.enrolled()}"
    plain = api.call("GET", path, "dashboard")
    assert plain.status_code == 200 and plain.json()["timeline"] is None
    tag = plain.headers["etag"]
    projected = api.call(
        "GET", path, "dashboard", params={"include": "timeline"}, headers={"If-None-Match": tag}
    )
    assert projected.status_code == 200 and projected.json()["timeline"]
    named = api.call("GET", path, "navigator", headers={"If-None-Match": tag})
    assert named.status_code == 200 and named.json()["patient"] is not None
    wrong = api.call("GET", path, "dashboard", params={"include": "everything"})
    assert wrong.status_code == 422 and "timeline" in wrong.text


def test_a_streamed_file_is_not_buffered_and_keeps_its_own_strong_tag(api: Api) -> None:
    script = api.client.get("/static/js/main.js")
    tag = script.headers["etag"]
    assert script.status_code == 200 and not tag.startswith("W/")
    again = api.client.get("/static/js/main.js", headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.headers["etag"] == tag
    assert script.headers["cache-control"] == "no-cache"  # carepath's own: asked each time
    vendored = api.client.get("/static/vendor/mermaid-11.17.2.min.js")
    assert vendored.status_code == 200 and "immutable" in vendored.headers["cache-control"]
