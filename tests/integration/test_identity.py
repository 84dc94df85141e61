"""Identity: a closed set of roles, tokens that expire and can be revoked, and staff who see
only the patients they have work for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, column, insert, table
from sqlmodel import Session, select

from api.credentials import RecentTokens
from pathways.cli import cli
from pathways.library import load
from pathways.roles import PRIVILEGED_ROLES, STAFF_ROLES, known_role
from pathways.store.database import database_engine, downgrade, upgrade
from pathways.store.tables import ApiToken, AuditLog
from pathways.store.tokens import UnknownRole, digest, issue_token
from pathways.store.types import UTCDateTime
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork
from tests.conftest import DEFINITIONS
from tests.integration.api_support import Api


def _stored(engine: Engine, role: str, **columns: Any) -> str:
    """A token row written as an old release (or SQL) would have left it."""
    token = f"stored-{role}-token-0123456789"
    now = datetime.now(UTC)
    row = {"created_at": now, "expires_at": now + timedelta(days=1), **columns}
    with SqlAlchemyUnitOfWork(engine) as uow:
        uow.session.add(ApiToken(token_hash=digest(token), role=role, actor="pat", **row))
        uow.commit()
    return token


def _as(api: Api, token: str, path: str = "/me") -> Any:
    return api.client.get(path, headers={"Authorization": f"Bearer {token}"})


def test_every_role_a_shipped_pathway_gives_work_to_is_a_known_role() -> None:
    library = load([DEFINITIONS])
    declared = {role for pathway in library.pathways.values() for role in pathway.roles}
    assert len(declared) > 10
    assert {role for role in declared if not known_role(role)} == set()
    assert not set(PRIVILEGED_ROLES) & set(STAFF_ROLES)


def test_a_token_for_a_misspelt_role_is_refused_when_made(engine: Engine) -> None:
    with SqlAlchemyUnitOfWork(engine) as uow, pytest.raises(UnknownRole, match="dashboard"):
        issue_token(uow.session, "dashbaord", "pat", datetime.now(UTC))


def test_a_stored_token_whose_role_is_unknown_gets_no_staff_rights(api: Api) -> None:
    token = _stored(api.engine, "dashbaord")
    for path in ("/me", "/tasks", "/enrollments"):
        refused = _as(api, token, path)
        assert refused.status_code == 403, path
        assert refused.headers["content-type"] == "application/problem+json"
        assert "'dashbaord' is not one of the clinic's roles" in refused.json()["detail"]


def test_an_expired_token_is_refused_with_401_saying_so(api: Api) -> None:
    token = _stored(api.engine, "lab", expires_at=datetime.now(UTC) - timedelta(minutes=1))
    refused = _as(api, token)
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["www-authenticate"] == "Bearer"
    assert "this token expired on" in refused.json()["detail"]


def test_a_revoked_token_is_refused_with_401_saying_so(api: Api) -> None:
    token = _stored(api.engine, "lab", revoked_at=datetime.now(UTC))
    refused = _as(api, token)
    assert refused.status_code == 401
    assert "this token was revoked on" in refused.json()["detail"]


def test_a_token_revoked_while_in_use_is_refused_once_the_cache_window_ends(api: Api) -> None:
    ticks = [0.0]
    api.client.app.state.credentials = RecentTokens(5, clock=lambda: ticks[0])  # type: ignore[attr-defined]
    token = _stored(api.engine, "lab")
    assert _as(api, token).status_code == 200
    with SqlAlchemyUnitOfWork(api.engine) as uow:
        row = uow.session.exec(select(ApiToken).where(ApiToken.token_hash == digest(token))).one()
        row.revoked_at = datetime.now(UTC)
        uow.commit()
    ticks[0] = 4.0  # within the documented window the checked token still stands...
    assert _as(api, token).status_code == 200
    ticks[0] = 5.0  # ...and not a moment after it
    refused = _as(api, token)
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]


def test_a_token_lives_ninety_days_unless_told_and_never_over_a_year(engine: Engine) -> None:
    now = datetime(2026, 12, 1, 9, tzinfo=UTC)
    with SqlAlchemyUnitOfWork(engine) as uow:
        issue_token(uow.session, "lab", "pat", now)
        with pytest.raises(ValueError, match="at most 365 days"):
            issue_token(uow.session, "lab", "pat", now, timedelta(days=366))
        uow.commit()
    with Session(engine) as session:
        row = session.exec(select(ApiToken)).one()
    assert row.expires_at == now + timedelta(days=90)


def test_tokens_issued_before_expiry_existed_get_ninety_days_from_the_upgrade(
    database_url: str,
) -> None:
    downgrade(database_url, "0007-1")
    engine = database_engine(database_url)
    old = table(
        "api_token",
        *(column(name) for name in ("token_hash", "role", "actor")),
        column("created_at", UTCDateTime()),
    )
    with engine.begin() as connection:
        connection.execute(
            insert(old).values(
                token_hash="0" * 64,
                role="lab",
                actor="pat",
                created_at=datetime(2025, 1, 1, tzinfo=UTC),
            )
        )
    upgrade(database_url)
    with Session(engine) as session:
        row = session.exec(select(ApiToken)).one()
    engine.dispose()
    lifetime = row.expires_at - datetime.now(UTC)
    assert timedelta(days=89) < lifetime <= timedelta(days=90)


def _cli(database_url: str, *args: str) -> Any:
    return CliRunner().invoke(cli, ["token", *args], env={"CAREPATH_DATABASE_URL": database_url})


def test_the_cli_refuses_an_unknown_role_listing_the_roles(database_url: str) -> None:
    result = _cli(database_url, "create", "--role", "dashbaord")
    assert result.exit_code != 0
    assert "'dashbaord' is not one of the clinic's roles" in result.output
    assert "admin, navigator, dashboard" in result.output and "oncology_nurse" in result.output
    too_long = _cli(database_url, "create", "--role", "lab", "--expires-in", "400")
    assert too_long.exit_code != 0 and "--expires-in" in too_long.output


def test_the_cli_lists_tokens_without_them_and_a_revoked_one_is_refused(
    database_url: str, engine: Engine
) -> None:
    created = _cli(database_url, "create", "--role", "lab", "--actor", "lee", "--expires-in", "7")
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    listed = _cli(database_url, "list")
    assert listed.exit_code == 0, listed.output
    line = next(line for line in listed.stdout.splitlines() if " lee " in line)
    assert token not in listed.output and digest(token) not in listed.output
    token_id = line.split()[0]
    expires = (datetime.now(UTC) + timedelta(days=7)).strftime("%Y-%m-%d")
    assert line.split()[1:3] == ["lab", "lee"] and expires in line and line.endswith("-")
    revoked = _cli(database_url, "revoke", token_id, "--reason", "left the clinic")
    assert revoked.exit_code == 0, revoked.output
    again = _cli(database_url, "list").stdout.splitlines()
    assert not next(line for line in again if " lee " in line).endswith("-")
    assert _cli(database_url, "revoke", "999999").exit_code != 0
    with Session(engine) as session:
        rows = session.exec(select(AuditLog).where(AuditLog.target_type == "api_token")).all()
    assert [(r.action, r.target_id, r.reason) for r in rows] == [
        ("token_created", token_id, None),
        ("token_revoked", token_id, "left the clinic"),
    ]
    with Session(engine) as session:
        stored = session.exec(select(ApiToken).where(ApiToken.actor == "lee")).one()
    assert stored.revoked_at is not None


def _patients(api: Api) -> tuple[str, str]:
    """A patient with an open lab task (chemotherapy) and one without (surveillance)."""
    in_care = api.enrolled("MRN-LAB")
    other = api.enrolled("MRN-SCAN", pathway="surveillance_imaging")
    return in_care, other


def _patient_of(api: Api, enrollment_id: str) -> str:
    found: str = api.call("GET", f"/enrollments/{enrollment_id}").json()["patient_id"]
    return found


def test_a_lab_token_sees_names_only_of_patients_with_an_open_lab_task(api: Api) -> None:
    in_care, other = _patients(api)
    rows = api.call("GET", "/enrollments", "lab").json()["items"]
    named = {row["id"]: row["patient"] for row in rows}
    assert named[in_care] == {"mrn": "MRN-LAB", "display_name": "Patient MRN-LAB"}
    assert named[other] is None
    assert api.call("GET", f"/enrollments/{other}", "lab").json()["patient"] is None
    assert api.call("GET", f"/enrollments/{in_care}", "lab").json()["patient"] is not None
    # Searching by name or MRN finds nothing for staff; the navigator finds the patient.
    assert api.call("GET", "/enrollments?text=MRN-SCAN", "lab").json()["items"] == []
    assert len(api.call("GET", "/enrollments?text=MRN-SCAN").json()["items"]) == 1


def test_a_lab_token_cannot_look_up_a_patient_it_has_no_work_for(api: Api) -> None:
    in_care, other = _patients(api)
    assert api.call("GET", "/patients?mrn=MRN-SCAN", "lab").json() == []
    assert len(api.call("GET", "/patients?mrn=MRN-LAB", "lab").json()) == 1
    refused = api.call("GET", f"/patients/{_patient_of(api, other)}", "lab")
    assert refused.status_code == 403
    assert "only while they have an open lab task" in refused.json()["detail"]
    assert api.call("GET", f"/patients/{_patient_of(api, in_care)}", "lab").status_code == 200
    assert api.call("GET", f"/patients/{_patient_of(api, other)}").status_code == 200


def test_what_an_event_recorded_is_hidden_from_staff_without_work_for_the_patient(
    api: Api,
) -> None:
    _, other = _patients(api)
    events = api.call("GET", f"/enrollments/{other}/events", "lab").json()["items"]
    assert events and all(event["data"] is None for event in events)
    mine = api.call("GET", f"/enrollments/{other}/events").json()["items"]
    assert all(event["data"] is not None for event in mine)


def test_admin_and_navigator_see_every_patient_the_dashboard_none(api: Api) -> None:
    in_care, other = _patients(api)
    for role, sees in (("admin", True), ("navigator", True), ("dashboard", False)):
        rows = api.call("GET", "/enrollments", role).json()["items"]
        assert {row["id"]: row["patient"] is not None for row in rows} == {
            in_care: sees,
            other: sees,
        }, role
