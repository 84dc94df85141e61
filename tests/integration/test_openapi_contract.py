"""/openapi.json is a contract a generated client can rely on: who must send a bearer token,
and every error each operation answers, as problem+json bodies of one declared schema.

Read both ways: every operation in the document declares its security and its errors, and
real requests (no token, a wrong role, a missing id, a bad body, a conflict) answer only
statuses their operation declares, with bodies that validate against that schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from sqlmodel import select

from api.app import create_app
from api.openapi import RAISES
from api.problems import MEDIA_TYPE
from pathways.store.database import database_engine, upgrade
from pathways.store.definitions import publish_directory
from pathways.store.enrollments import enrol, register_patient
from pathways.store.tables import StaffTask
from pathways.store.tokens import issue_token
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork
from tests import writes
from tests.conftest import DEFINITIONS

ADMIN = "contract-admin-token-0123456789abcdef"
PROBLEM = {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
SAMPLE_PATH_VALUES = {"version": "1", "event_id": "1"}  # the integer ones; others take "x"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    url = f"sqlite:///{Path(tmp_path_factory.mktemp('contract')) / 'carepath.db'}"
    upgrade(url)
    engine = database_engine(url)
    with SqlAlchemyUnitOfWork(engine) as uow:
        publish_directory(uow.session, DEFINITIONS, "informaticist", writes.now())
        patient = register_patient(uow, "MRN-C1", "Contract Patient", "kim", writes.now())
        enrolled = enrol(uow, patient.id, "chemotherapy", None, {}, {}, "kim", writes.now())
        tokens = {
            role: issue_token(uow.session, role, f"{role}.contract", writes.now())
            for role in ("navigator", "dashboard", "lab")
        }
        uow.commit()
    tokens |= {"admin": ADMIN, "enrollment": enrolled.id}
    with TestClient(create_app(engine, lambda _event: None, ADMIN)) as client:
        yield client, tokens
    engine.dispose()


@pytest.fixture(scope="module")
def document(served: tuple[TestClient, dict[str, str]]) -> dict[str, Any]:
    client, _ = served
    found: dict[str, Any] = client.get("/openapi.json").json()
    return found


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def _as(client: TestClient, tokens: dict[str, str], role: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[role]}"} if role else {}


def _checked(document: dict[str, Any], method: str, template: str, response: Any) -> dict[str, Any]:
    """The problem body, once its status is one the operation declares and it fits the schema."""
    operation = document["paths"][template][method]
    assert str(response.status_code) in operation["responses"], (method, template, response.text)
    assert response.headers["content-type"] == MEDIA_TYPE
    body: dict[str, Any] = response.json()
    Draft202012Validator(document["components"]["schemas"]["Problem"]).validate(body)
    assert body["status"] == response.status_code
    return body


def test_the_bearer_scheme_is_declared_once_and_no_operation_takes_the_header_itself(
    document: dict[str, Any],
) -> None:
    assert document["components"]["securitySchemes"] == {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": document["components"]["securitySchemes"]["bearer"]["description"],
        }
    }
    for method, path, operation in _operations(document):
        names = [p["name"].lower() for p in operation.get("parameters", []) if p["in"] == "header"]
        assert "authorization" not in names, (method, path)


def test_every_operation_declares_its_security_and_its_errors_as_problems(
    document: dict[str, Any],
) -> None:
    public = set()
    for method, path, operation in _operations(document):
        assert operation["security"] in ([], [{"bearer": []}]), (method, path)
        responses = operation["responses"]
        errors = {code for code in responses if code == "default" or code[0] in "45"}
        assert {"422", "default"} <= errors, (method, path)
        for code in errors:
            assert responses[code]["content"] == PROBLEM, (method, path, code)
            assert responses[code]["description"], (method, path, code)
        if operation["security"]:
            assert {"401", "403", "503"} <= errors, (method, path)  # 503: OIDC unreachable
        else:
            public.add((method.upper(), path))
        if any(p["in"] == "path" for p in operation.get("parameters", [])):
            assert "404" in errors, (method, path)
        if method in ("post", "put", "patch", "delete"):
            assert {"400", "413"} <= errors, (method, path)
    assert public == {
        ("GET", "/health"),
        ("GET", "/auth/config"),
        ("GET", "/auth/login"),
        ("GET", "/auth/callback"),
        ("POST", "/auth/session"),
    }
    text = str(document)
    assert "HTTPValidationError" not in text and "#/components/schemas/Problem" in text


def test_every_operation_listed_with_its_own_errors_is_a_real_operation(
    document: dict[str, Any],
) -> None:
    for method, path in RAISES:
        assert method in document["paths"].get(path, {}), f"RAISES names {method} {path}"
    conflicts = {(m, p) for m, p, op in _operations(document) if "409" in op["responses"]}
    assert ("post", "/enrollments") in conflicts and ("post", "/tasks/{task_id}/claim") in conflicts


def test_each_operation_is_refused_without_a_token_exactly_when_it_declares_bearer(
    served: tuple[TestClient, dict[str, str]], document: dict[str, Any]
) -> None:
    client, _ = served
    for method, template, operation in _operations(document):
        path = template
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path":
                value = SAMPLE_PATH_VALUES.get(parameter["name"], "x")
                path = path.replace("{" + parameter["name"] + "}", value)
        response = client.request(method.upper(), path, follow_redirects=False)
        if operation["security"]:
            body = _checked(document, method, template, response)
            assert response.status_code == 401, (method, template, body)
            assert response.headers["www-authenticate"] == "Bearer"
            assert "Authorization: Bearer TOKEN" in body["detail"]
        elif 401 not in RAISES.get((method, template), {}):
            assert response.status_code != 401, (method, template)


def test_real_errors_are_declared_and_fit_the_problem_schema(
    served: tuple[TestClient, dict[str, str]], document: dict[str, Any]
) -> None:
    client, tokens = served
    navigator, admin = _as(client, tokens, "navigator"), _as(client, tokens, "admin")
    enrollment = tokens["enrollment"]

    def check(method: str, template: str, path: str, status: int, **kwargs: Any) -> dict[str, Any]:
        response = client.request(method.upper(), path, **kwargs)
        assert response.status_code == status, response.text
        return _checked(document, method, template, response)

    unknown = check("get", "/tasks", "/tasks?role=lab&colour=red", 422, headers=navigator)
    assert "unknown query parameter 'colour'" in unknown["detail"]
    invalid = check("get", "/tasks", "/tasks?role=lab&limit=0", 422, headers=navigator)
    assert invalid["errors"][0]["field"] == "query.limit"
    forged = check("get", "/tasks", "/tasks?role=lab&cursor=forged", 422, headers=navigator)
    assert "cursor is not one this API issued" in forged["detail"]
    check("get", "/tasks", "/tasks?role=lab", 403, headers=_as(client, tokens, "dashboard"))
    check("get", "/enrollments/{enrollment_id}", "/enrollments/nope", 404, headers=navigator)
    check("get", "/me", "/me", 401, headers={"Authorization": "Bearer not-a-token"})
    event = {"type": "hold", "data": {"reason": "x"}, "idempotency_key": "contract-1"}
    too_big = {**event, "data": {"reason": "x" * 2_000_000}}
    events = "/enrollments/{enrollment_id}/events"
    refused = check("post", events, f"/enrollments/{enrollment}/events", 413, json=too_big)
    assert refused["field"] == "body"
    latin = '{"type": "h\u00e9"}'.encode("latin-1")
    not_utf8 = {"content": latin, "headers": {**navigator, "content-type": "application/json"}}
    check("post", events, f"/enrollments/{enrollment}/events", 400, **not_utf8)
    wrong = check("post", "/pathways", "/pathways", 422, content="pathway: [", headers=admin)
    assert isinstance(wrong.get("problems", []), list)
    with SqlAlchemyUnitOfWork(client.app.state.engine) as uow:  # type: ignore[attr-defined]
        task = uow.session.exec(select(StaffTask).where(StaffTask.role == "lab")).first()
        assert task is not None
    claim = "/tasks/{task_id}/claim"
    claimed = client.post(f"/tasks/{task.id}/claim", headers=navigator, json={})
    assert claimed.status_code == 200, claimed.text
    taken = {"assignee": "someone.else"}
    conflict = check("post", claim, f"/tasks/{task.id}/claim", 409, headers=navigator, json=taken)
    assert "claimed by" in conflict["detail"]


def test_docs_load_swagger_ui_from_the_package_and_nothing_from_elsewhere(
    served: tuple[TestClient, dict[str, str]],
) -> None:
    client, _ = served
    page = client.get("/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "http://" not in page.text and "https://" not in page.text, "an outside address"
    assert '"validatorUrl": null' in page.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"):
        url = f"/static/vendor/swagger-ui/{asset}"
        assert url in page.text
        served_asset = client.get(url)
        assert served_asset.status_code == 200 and len(served_asset.content) > 500, url
    assert client.get("/redoc").status_code == 404
