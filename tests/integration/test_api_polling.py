"""Dashboards poll cheaply: GET answers carry an ETag, and an unchanged answer is a 304."""

from __future__ import annotations

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
