"""Schemathesis over the OpenAPI schema, as each kind of caller: no 5xx, no answer that breaks
the schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from api.app import create_app
from pathways.store.database import database_engine, upgrade
from pathways.store.definitions import publish_directory
from pathways.store.enrollments import enrol, register_patient
from pathways.store.tokens import issue_token
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork
from tests import writes
from tests.conftest import DEFINITIONS

ADMIN = "schema-admin-token-0123456789abcdef"
# Who calls: the admin, a navigator, a staff role and a read-only dashboard.
ROLES = ("admin", "navigator", "lab", "dashboard")
YAML_OPERATIONS = {("POST", "/pathways"), ("POST", "/pathways/validate")}


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    url = f"sqlite:///{Path(tmp_path_factory.mktemp('schema')) / 'carepath.db'}"
    upgrade(url)
    engine = database_engine(url)
    with SqlAlchemyUnitOfWork(engine) as uow:
        publish_directory(uow.session, DEFINITIONS, "informaticist", writes.now())
        patient = register_patient(uow, "MRN-S1", "Schema Patient", "kim", writes.now())
        enrol(uow, patient.id, "chemotherapy", None, {}, {}, "kim", writes.now())
        tokens = {
            role: issue_token(uow.session, role, f"{role}.schema", writes.now())
            for role in ROLES[1:]
        }
        uow.commit()
    app = create_app(engine, lambda _event: None, ADMIN)
    yield schemathesis.openapi.from_asgi("/openapi.json", app), {**tokens, "admin": ADMIN}
    engine.dispose()


def _operations() -> list[tuple[str, str]]:
    """(method, path) of every operation, read from the app's own OpenAPI document."""
    spec = create_app(database_engine("sqlite://"), lambda _event: None, ADMIN).openapi()
    return [(method.upper(), path) for path, item in spec["paths"].items() for method in item]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path"), _operations(), ids=lambda v: str(v))
def test_no_request_makes_the_api_fail_or_break_its_schema(
    api_schema: Any, method: str, path: str, role: str
) -> None:
    schema, tokens = api_schema
    operation = schema[path][method]
    # Validating a YAML definition costs a library load per example: fewer of those.
    examples = 3 if (method, path) in YAML_OPERATIONS else 8

    @settings(
        max_examples=examples,  # per role and operation: each role well under a minute
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(case=operation.as_strategy())
    def exercise(case: Any) -> None:
        case.call_and_validate(
            headers={"Authorization": f"Bearer {tokens[role]}"},
            timeout=60,  # the first call compiles every definition: slow on a busy machine
            checks=[not_a_server_error, response_schema_conformance],
        )

    exercise()
