"""/pathways and /patients over HTTP: read, validate and publish the library; register patients."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from pathways.store.enrollments import enrol
from pathways.store.tables import AuditLog
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork
from tests import writes
from tests.conftest import DEFINITIONS
from tests.integration.api_support import Api

PROBLEM = "application/problem+json"
YAML = {"Content-Type": "application/yaml"}
SHIPPED = [
    "chemotherapy",
    "clinical_trial_screening",
    "multimodality_plan",
    "radiation_conventional",
    "radiation_sbrt",
    "surgery",
    "surveillance_imaging",
    "tumour_board",
]


# The version of chemotherapy in definitions/ (the library holds the latest of each pathway),
# and the next one, which a test may publish.
SHIPPED_VERSION = 2
NEXT_VERSION = SHIPPED_VERSION + 1


def _chemotherapy(version: int = SHIPPED_VERSION, role: str = "lab") -> str:
    text = (DEFINITIONS / "chemotherapy.yaml").read_text(encoding="utf-8")
    assert f"\nversion: {SHIPPED_VERSION}\n" in text, "definitions/ moved on: set SHIPPED_VERSION"
    text = text.replace("role: lab\n", f"role: {role}\n", 1)
    return text.replace(f"\nversion: {SHIPPED_VERSION}\n", f"\nversion: {version}\n", 1)


def _post(api: Api, path: str, text: str | bytes, role: str = "admin") -> Any:
    body = text.encode("utf-8") if isinstance(text, str) else text
    return api.client.post(path, content=body, headers={**api.headers(role), **YAML})


def _audited(api: Api, action: str, by: str | None = None) -> list[AuditLog]:
    """Audit rows of `action` (by `by`: the fixture itself publishes the library, audited)."""
    with Session(api.engine) as session:
        query = select(AuditLog).where(AuditLog.action == action)
        if by is not None:
            query = query.where(AuditLog.actor == by)
        return list(session.exec(query))


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    return body


def _register(
    api: Api, mrn: str = "MRN-100", name: str = "Alex Reyes", role: str = "navigator"
) -> Any:
    return api.call("POST", "/patients", role, json={"mrn": mrn, "display_name": name})


# /pathways


def test_the_library_lists_the_eight_shipped_pathways_at_their_latest_version(api: Api) -> None:
    response = api.call("GET", "/pathways", "dashboard")
    assert response.status_code == 200
    listed = response.json()
    assert [p["pathway"] for p in listed] == SHIPPED  # the clinic calendar is no pathway
    chemotherapy = listed[0]
    assert chemotherapy == {
        "pathway": "chemotherapy",
        "version": SHIPPED_VERSION,
        "title": "Chemotherapy",
        "modality": "chemotherapy",
        "versions": [SHIPPED_VERSION],
    }


def test_every_role_reads_what_a_pathway_asks_for_at_enrolment(api: Api) -> None:
    for role in ("navigator", "dashboard", "lab", "oncology_nurse", "radiology", "admin"):
        assert api.call("GET", "/pathways/chemotherapy", role).status_code == 200, role
    latest = api.call("GET", "/pathways/chemotherapy", "lab").json()
    assert (latest["pathway"], latest["version"], latest["versions"]) == (
        "chemotherapy",
        SHIPPED_VERSION,
        [SHIPPED_VERSION],
    )
    assert latest["parameters"]["cycles"] == {
        "type": "integer",
        "default": 6,
        "required": False,
        "minimum": 1,
        "maximum": 12,
        "enum": [],
        "unit": "",
        "description": "",
    }
    assert latest["parameters"]["anc_min"]["unit"] == "/uL"
    assert {"lab", "oncology_nurse", "radiology"} <= set(latest["roles"])
    assert len(latest["content_hash"]) == 64 and latest["published_at"]
    pinned = api.call("GET", f"/pathways/chemotherapy/versions/{SHIPPED_VERSION}", "lab").json()
    assert pinned == latest


def test_a_pathway_draws_as_a_mermaid_flowchart(api: Api) -> None:
    for path in ("/pathways/surgery/diagram", "/pathways/surgery/versions/2/diagram"):
        response = api.call("GET", path, "dashboard")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        assert response.text.startswith("flowchart TD\n")
        assert " --> " in response.text


def test_an_unknown_pathway_or_version_is_a_404_problem_naming_what_is_missing(api: Api) -> None:
    no_version_9 = f"pathway 'chemotherapy' has no version 9 (versions: {SHIPPED_VERSION})"
    for path, detail in [
        ("/pathways/nope", "no published pathway 'nope'"),
        ("/pathways/clinic", "no published pathway 'clinic'"),  # a calendar, not a pathway
        ("/pathways/nope/diagram", "no published pathway 'nope'"),
        ("/pathways/chemotherapy/versions/9", no_version_9),
        ("/pathways/chemotherapy/versions/9/diagram", no_version_9),
    ]:
        assert _problem(api.call("GET", path, "dashboard"), 404)["detail"] == detail, path


def test_every_pathway_endpoint_needs_a_token(api: Api) -> None:
    published = _audited(api, "definition_published")  # the library, published by the fixture
    for method, path in [
        ("GET", "/pathways"),
        ("GET", "/pathways/chemotherapy"),
        ("GET", f"/pathways/chemotherapy/versions/{SHIPPED_VERSION}"),
        ("GET", "/pathways/chemotherapy/diagram"),
        ("GET", f"/pathways/chemotherapy/versions/{SHIPPED_VERSION}/diagram"),
        ("POST", "/pathways/validate"),
        ("POST", "/pathways"),
    ]:
        response = api.client.request(
            method, path, content=_chemotherapy(NEXT_VERSION), headers=YAML
        )
        assert _problem(response, 401)["detail"].startswith("send 'Authorization: Bearer"), path
    assert _audited(api, "definition_published") == published


def test_validate_points_at_a_misspelt_role_and_at_the_version_that_cannot_change(
    api: Api,
) -> None:
    text = _chemotherapy(role="labs")
    line = text.splitlines().index("        role: labs") + 1
    response = _post(api, "/pathways/validate", text, "admin")
    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is False
    assert {
        "line": line,
        "column": 15,
        "where": "baseline_labs",
        "message": "role 'labs' is not one of this pathway's roles",
        "hint": "did you mean 'lab'? (or add it to 'roles')",
    } in body["problems"]
    assert any(
        p["hint"] == "a published version never changes: give this one a new version"
        for p in body["problems"]
    )


def test_validate_accepts_a_new_version_without_publishing_it(api: Api) -> None:
    for text in (_chemotherapy(NEXT_VERSION), _chemotherapy()):  # the published text is valid
        response = _post(api, "/pathways/validate", text, "admin")
        assert response.json() == {"valid": True, "problems": []}
    assert api.call("GET", "/pathways/chemotherapy").json()["versions"] == [SHIPPED_VERSION]


def test_an_empty_or_non_utf8_body_is_a_422_problem_saying_what_to_send(api: Api) -> None:
    for path in ("/pathways/validate", "/pathways"):
        empty = _problem(_post(api, path, "  \n"), 422)["detail"]
        assert empty == "the body is empty: send the definition's YAML text", path
        latin = _problem(_post(api, path, "title: Lymphome trait\xe9\n".encode("latin-1")), 422)
        assert latin["detail"].endswith("save the YAML file as UTF-8"), path


def test_an_admin_publishes_a_new_version_which_becomes_the_latest(api: Api) -> None:
    response = _post(api, "/pathways", _chemotherapy(NEXT_VERSION))
    assert response.status_code == 201, response.text
    published = response.json()
    assert {key: published[key] for key in ("kind", "pathway", "version")} == {
        "kind": "pathway",
        "pathway": "chemotherapy",
        "version": NEXT_VERSION,
    }
    both = [SHIPPED_VERSION, NEXT_VERSION]
    latest = api.call("GET", "/pathways/chemotherapy", "dashboard").json()
    assert (latest["version"], latest["versions"]) == (NEXT_VERSION, both)
    assert latest["content_hash"] == published["content_hash"]
    shipped = api.call("GET", f"/pathways/chemotherapy/versions/{SHIPPED_VERSION}").json()
    assert shipped["version"] == SHIPPED_VERSION
    listed = api.call("GET", "/pathways").json()
    assert (listed[0]["version"], listed[0]["versions"]) == (NEXT_VERSION, both)
    [entry] = _audited(api, "definition_published", by="admin")
    assert entry.target_type == "pathway_definition"
    assert entry.detail == {"kind": "pathway", "pathway": "chemotherapy", "version": NEXT_VERSION}


def test_publishing_the_same_text_again_gives_the_stored_definition_with_200(api: Api) -> None:
    first = _post(api, "/pathways", _chemotherapy(NEXT_VERSION))
    again = _post(api, "/pathways", _chemotherapy(NEXT_VERSION))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    shipped = _post(api, "/pathways", _chemotherapy())
    assert (shipped.status_code, shipped.json()["version"]) == (200, SHIPPED_VERSION)
    assert len(_audited(api, "definition_published", by="admin")) == 1


def test_changed_text_under_a_published_version_is_refused_with_the_next_version(
    api: Api,
) -> None:
    changed = _chemotherapy().replace("title: Chemotherapy\n", "title: Chemo\n", 1)
    body = _problem(_post(api, "/pathways", changed), 422)
    assert body["detail"] == (
        f"pathway 'chemotherapy' version {SHIPPED_VERSION} is published and cannot change:"
        f" publish it as version {NEXT_VERSION}"
    )
    assert api.call("GET", "/pathways/chemotherapy").json()["title"] == "Chemotherapy"


def test_a_definition_with_problems_is_refused_with_every_problem(api: Api) -> None:
    for text, problem in [
        (_chemotherapy(NEXT_VERSION, "labs"), "role 'labs' is not one of this pathway's roles"),
        ("pathway: [chemotherapy\n", "YAML syntax error"),
        ("just words\n", "a definition must be a mapping, got 'just words'"),
    ]:
        body = _problem(_post(api, "/pathways", text), 422)
        assert any(problem in found["message"] for found in body["problems"]), body
    assert api.call("GET", "/pathways/chemotherapy").json()["versions"] == [SHIPPED_VERSION]
    assert _audited(api, "definition_published", by="admin") == []


def test_only_an_admin_may_publish(api: Api) -> None:
    for role in ("navigator", "dashboard", "lab"):
        body = _problem(_post(api, "/pathways", _chemotherapy(NEXT_VERSION), role), 403)
        assert body["detail"] == f"the {role} role may not publish"
    assert api.call("GET", "/pathways/chemotherapy").json()["versions"] == [SHIPPED_VERSION]


# /patients


def test_a_patient_is_registered_once_per_mrn(api: Api) -> None:
    first = _register(api, "MRN-100", "Alex Reyes")
    assert first.status_code == 201
    patient = first.json()
    assert first.headers["location"] == f"/patients/{patient['id']}"
    assert (patient["mrn"], patient["display_name"]) == ("MRN-100", "Alex Reyes")
    again = _register(api, "  MRN-100 ", "Alexandra Reyes")  # same MRN: the same patient
    assert (again.status_code, again.json()) == (200, patient)
    [entry] = _audited(api, "patient_registered")
    assert (entry.actor, entry.target_id) == ("navigator.tester", patient["id"])
    assert _register(api, "MRN-101", "Sam Lee", "admin").status_code == 201


def test_a_patient_is_found_by_id_and_by_exact_mrn(api: Api) -> None:
    patient = _register(api).json()
    for role in ("lab", "oncology_nurse"):  # staff: not before they have work for the patient
        assert api.call("GET", f"/patients/{patient['id']}", role).status_code == 403, role
        assert api.call("GET", "/patients", role, params={"mrn": "MRN-100"}).json() == [], role
    with SqlAlchemyUnitOfWork(api.engine) as uow:  # baseline labs, chemotherapy teaching
        enrollment = enrol(uow, patient["id"], "chemotherapy", None, {}, {}, "kim", writes.now())
        uow.commit()
    for role in ("navigator", "admin", "lab", "oncology_nurse"):
        shown = api.call("GET", f"/patients/{patient['id']}", role).json()
        assert {key: shown[key] for key in patient} == patient, role
        assert [(e["id"], e["pathway"]) for e in shown["enrollments"]] == [
            (enrollment.id, "chemotherapy")
        ], role
        found = api.call("GET", "/patients", role, params={"mrn": "MRN-100"})
        assert found.json() == [patient], role
    for mrn in ("MRN-10", "mrn-100", "MRN-1000"):
        assert api.call("GET", "/patients", params={"mrn": mrn}).json() == [], mrn


def test_the_dashboard_may_not_see_or_register_patients(api: Api) -> None:
    patient = _register(api).json()
    for path, params in [(f"/patients/{patient['id']}", {}), ("/patients", {"mrn": "MRN-100"})]:
        body = _problem(api.call("GET", path, "dashboard", params=params), 403)
        assert body["detail"] == "the dashboard role may not see patients"
    for role in ("dashboard", "lab"):
        body = _problem(_register(api, "MRN-200", "Kai Moss", role), 403)
        assert body["detail"] == f"the {role} role may not navigate"
    assert api.call("GET", "/patients", params={"mrn": "MRN-200"}).json() == []


def test_every_patient_endpoint_needs_a_token(api: Api) -> None:
    for method, path in [
        ("POST", "/patients"),
        ("GET", "/patients?mrn=MRN-100"),
        ("GET", "/patients/some-id"),
    ]:
        response = api.client.request(method, path, json={"mrn": "M", "display_name": "N"})
        assert _problem(response, 401)["status"] == 401, path
    assert _audited(api, "patient_registered") == []


def test_bad_registrations_are_a_422_problem_naming_the_field(api: Api) -> None:
    for body, detail in [
        ({"display_name": "Alex"}, "body.mrn: Field required"),
        ({"mrn": "  ", "display_name": "Alex"}, "body.mrn: String should have at least 1"),
        ({"mrn": "MRN 100", "display_name": "Alex"}, "body.mrn: Value error, an MRN has no spaces"),
        ({"mrn": "M" * 65, "display_name": "Alex"}, "body.mrn: String should have at most 64"),
        ({"mrn": "MRN-100", "display_name": " "}, "body.display_name: String should have at least"),
        ({"mrn": "MRN-100", "display_name": "A", "dob": "1970"}, "body.dob: Extra inputs"),
    ]:
        response = api.call("POST", "/patients", json=body)
        assert _problem(response, 422)["detail"].startswith(detail), body
    assert _audited(api, "patient_registered") == []


def test_finding_a_patient_needs_an_mrn_and_an_unknown_id_is_a_404(api: Api) -> None:
    assert _problem(api.call("GET", "/patients"), 422)["detail"] == "query.mrn: Field required"
    assert _problem(api.call("GET", "/patients/nope"), 404)["detail"] == "no patient nope"
