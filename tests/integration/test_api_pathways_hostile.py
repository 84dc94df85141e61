"""Hostile definitions posted to /pathways/validate and /pathways: refused with 422, never a 500.

The outside campaign of issue 19 took the API down with a 477-byte billion laughs posted with a
dashboard token; deep nesting and a `!!python` tag gave 500s; a 900 kB title validated and then
failed to publish; and one big published pathway slowed every later validation.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import Session, select

from pathways.limits import MAX_DOCUMENT_BYTES, MAX_STEPS, MAX_TEXT_CHARS
from pathways.store.tables import AuditLog, PathwayDefinition
from tests.integration.api_support import Api
from tests.unit.test_yaml_limits import billion_laughs, steps

PROBLEM = "application/problem+json"
YAML = {"Content-Type": "application/yaml"}
HEAD = "pathway: {id}\nversion: 1\ntitle: {title}\nmodality: surgery\nroles: [lab]\n"
ONE_STEP = "steps:\n  - {id: labs, task: Labs, role: lab, due: P1D}\n"


def _post(api: Api, path: str, text: str, role: str = "admin") -> Any:
    return api.client.post(
        path, content=text.encode("utf-8"), headers={**api.headers(role), **YAML}
    )


def _refused(response: Any) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["problems"], body
    return body


def _published(api: Api) -> int:
    """Definitions an admin published through the API (the fixture's library is left out)."""
    with Session(api.engine) as session:
        query = select(AuditLog).where(
            AuditLog.action == "definition_published", AuditLog.actor == "admin"
        )
        return len(list(session.exec(query)))


def _small(pathway_id: str, extra_step: str = "") -> str:
    return HEAD.format(id=pathway_id, title="Small") + ONE_STEP + extra_step


@pytest.fixture
def loaded(api: Api) -> Iterator[list[tuple[str, str]]]:
    """(kind, id) of every published definition row read into memory while the test runs."""
    rows: list[tuple[str, str]] = []

    def record(row: PathwayDefinition, _context: Any) -> None:
        rows.append((row.kind, row.pathway))

    event.listen(PathwayDefinition, "load", record)
    yield rows
    event.remove(PathwayDefinition, "load", record)


def test_a_billion_laughs_is_refused_with_422_and_its_reason(api: Api) -> None:
    text = HEAD.format(id="laughs", title="Laughs") + billion_laughs() + ONE_STEP
    for path in ("/pathways/validate", "/pathways"):
        body = _refused(_post(api, path, text))
        problem = body["problems"][0]
        assert (
            problem["message"] == "the file holds more than 10,000 values (aliases counted in full)"
        )
        assert (problem["line"], problem["where"]) == (10, "(limits)")
        assert problem["hint"]
    validated = _refused(_post(api, "/pathways/validate", text))
    assert validated["detail"].startswith("the definition is over a limit of the pathway language")
    assert _published(api) == 0


def test_validating_is_for_authoring_roles_only(api: Api) -> None:
    for role in ("dashboard", "navigator", "lab"):
        for path in ("/pathways/validate", "/pathways"):
            response = _post(api, path, billion_laughs(), role)
            assert response.status_code == 403, (role, path, response.text)
            assert response.headers["content-type"] == PROBLEM
    assert _post(api, "/pathways/validate", _small("small_ok"), "admin").json() == {
        "valid": True,
        "problems": [],
    }


@pytest.mark.parametrize(
    ("tail", "message", "line"),
    [
        ("description: " + "[" * 10_000 + "\n", "values are nested more than 40 levels deep", 8),
        ("description: " + "{a: " * 10_000 + "\n", "values are nested more than 40 levels deep", 8),
        ("x: &x [*x]\n", "the alias *x is inside its own anchor: the value would be endless", 8),
        ("<<: {title: Merged}\n", "merge keys (<<) are not part of YAML 1.2", 8),
    ],
    ids=["brackets", "braces", "endless alias", "merge key"],
)
def test_hostile_structure_is_a_422_at_its_line(
    api: Api, tail: str, message: str, line: int
) -> None:
    text = _small("hostile") + tail
    for path in ("/pathways/validate", "/pathways"):
        [problem] = _refused(_post(api, path, text))["problems"]
        assert (problem["line"], problem["message"]) == (line, message)


def test_a_python_tag_is_refused_and_never_run(api: Api, tmp_path: Path) -> None:
    owned = tmp_path / "owned"
    text = (
        HEAD.format(id="tagged", title="Tagged")
        + "steps:\n  - id: labs\n"
        + f'    task: !!python/object/apply:os.system ["touch {owned}"]\n'
        + "    role: lab\n    due: P1D\n"
    )
    for path in ("/pathways/validate", "/pathways"):
        [problem] = _refused(_post(api, path, text))["problems"]
        assert (problem["line"], problem["column"]) == (8, 11)
        assert "python/object/apply:os.system' is not allowed" in problem["message"]
    assert not owned.exists()


def test_a_900_kb_title_is_413_and_a_long_title_is_refused_before_publishing(api: Api) -> None:
    huge = HEAD.format(id="long_title", title="x" * 900_000) + ONE_STEP
    for path in ("/pathways/validate", "/pathways"):
        response = _post(api, path, huge)
        assert response.status_code == 413, response.text
        assert f"over {MAX_DOCUMENT_BYTES // 1000} kB" in response.json()["detail"]
    long = HEAD.format(id="long_title", title="x" * (MAX_TEXT_CHARS + 100)) + ONE_STEP
    for path in ("/pathways/validate", "/pathways"):
        found = _refused(_post(api, path, long))["problems"]
        assert len(found) == 1, found
        [problem] = found
        assert problem["message"] == "'title' is 300 characters long; the limit is 200"
        assert problem["line"] == 3
    assert _published(api) == 0


def test_a_pathway_over_the_step_limit_is_refused(api: Api) -> None:
    assert _post(api, "/pathways/validate", steps(15_000)).status_code == 413
    for path in ("/pathways/validate", "/pathways"):
        [problem] = _refused(_post(api, path, steps(MAX_STEPS + 1)))["problems"]
        assert (
            problem["message"] == f"the pathway has {MAX_STEPS + 1} steps; the limit is {MAX_STEPS}"
        )
    assert _published(api) == 0


def test_validating_reads_only_the_definitions_a_pathway_refers_to(
    api: Api, loaded: list[tuple[str, str]]
) -> None:
    big = steps(MAX_STEPS).replace("pathway: hostile", "pathway: big_library_pathway")
    assert _post(api, "/pathways", big).status_code == 201
    loaded.clear()
    assert _post(api, "/pathways/validate", _small("small_unrelated")).json()["valid"] is True
    assert loaded == [("calendar", "clinic")]  # not the big one, nor any other pathway
    loaded.clear()
    caller = _small("big_caller", "  - {id: the_rest, call: big_library_pathway}\n")
    assert _post(api, "/pathways/validate", caller).json()["valid"] is True
    assert sorted(loaded) == [("calendar", "clinic"), ("pathway", "big_library_pathway")]


def test_a_call_to_a_misspelt_pathway_still_suggests_the_published_one(api: Api) -> None:
    caller = _small("caller", "  - {id: radiation, call: radiation_conventionl}\n")
    body = _post(api, "/pathways/validate", caller).json()
    assert body["valid"] is False
    [problem] = body["problems"]
    assert problem["message"] == "call to unknown pathway 'radiation_conventionl'"
    assert problem["hint"] == "did you mean 'radiation_conventional'?"
