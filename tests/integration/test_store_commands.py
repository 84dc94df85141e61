"""The database commands: replay --verify, webhooks, seed, migrate and publish."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine
from sqlmodel import Session

from pathways.cli import cli
from pathways.store.applying import apply_event
from pathways.store.definitions import publish_directory
from pathways.store.enrollments import enrol, record_event, register_patient
from pathways.store.tables import Enrollment
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork
from tests.conftest import DEFINITIONS, toronto

T0 = toronto(2026, 11, 23, 9, 0)


def _enrolled_with_history(engine: Engine) -> str:
    with SqlAlchemyUnitOfWork(engine) as uow:
        publish_directory(uow.session, DEFINITIONS, "informaticist", T0)
        patient = register_patient(uow, "MRN-R1", "Patient Replay", "kim", T0)
        enrollment = enrol(uow, patient.id, "radiation_sbrt", None, {}, {}, "kim", T0)
        hold, _ = record_event(uow, enrollment.id, "hold", {"reason": "admitted"}, "h1", "kim", T0)
        uow.commit()
    assert hold.id is not None
    with SqlAlchemyUnitOfWork(engine) as uow:
        apply_event(uow, hold.id, T0)
        uow.commit()
    return enrollment.id


def _replay(database_url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli, ["replay", "--verify", *args], env={"CAREPATH_DATABASE_URL": database_url}
    )
    return result.exit_code, result.output


def test_replay_verifies_every_enrollment(engine: Engine, database_url: str) -> None:
    enrollment_id = _enrolled_with_history(engine)
    code, output = _replay(database_url, "--all")
    assert code == 0, output
    assert f"{enrollment_id}: matches (2 events)" in output
    assert "1 enrollment(s) replayed, 0 differ" in output


def test_replay_reports_a_stored_state_the_log_does_not_explain(
    engine: Engine,
    database_url: str,
) -> None:
    enrollment_id = _enrolled_with_history(engine)
    with Session(engine) as session:
        enrollment = session.get(Enrollment, enrollment_id)
        assert enrollment is not None
        enrollment.state = {**enrollment.state, "status": "active"}
        session.add(enrollment)
        session.commit()
    code, output = _replay(database_url, enrollment_id)
    assert code == 1
    assert f"{enrollment_id}: DIFFERS" in output
    assert "$.status: stored 'active', replayed 'on_hold'" in output


@pytest.mark.parametrize("args", [(), ("some-id", "--all")], ids=["neither", "both"])
def test_replay_needs_one_enrollment_or_all(database_url: str, args: tuple[str, ...]) -> None:
    code, output = _replay(database_url, *args)
    assert code == 2 and "give one ENROLLMENT_ID or --all" in output


def test_replay_of_an_unknown_enrollment_says_so(database_url: str) -> None:
    code, output = _replay(database_url, "no-such-enrollment")
    assert code == 1 and "no enrollment no-such-enrollment" in output


def test_a_webhook_subscription_is_added_with_its_secret_from_the_environment(
    database_url: str,
) -> None:
    secret = "whsec_" + "c2VjcmV0" * 4  # base64 of 24 bytes
    env = {"CAREPATH_DATABASE_URL": database_url, "CAREPATH_WEBHOOK_SECRET": secret}
    added = CliRunner().invoke(
        cli, ["webhooks", "add", "https://ehr.example/inbox", "--role", "navigator"], env=env
    )
    assert added.exit_code == 0, added.output
    assert "role navigator, event any" in added.output
    listed = CliRunner().invoke(cli, ["webhooks", "list"], env=env)
    assert "https://ehr.example/inbox  role=navigator  event=any  active" in listed.output
    assert secret not in listed.output
    short = CliRunner().invoke(
        cli,
        ["webhooks", "add", "https://x.example"],
        env={**env, "CAREPATH_WEBHOOK_SECRET": "whsec_c2hvcnQ="},
    )
    assert short.exit_code == 2 and "must decode to 24 to 64 bytes" in short.output
    typo = CliRunner().invoke(
        cli, ["webhooks", "add", "https://x.example", "--role", "navigatr"], env=env
    )
    assert typo.exit_code == 2 and "'navigatr' is not one of the clinic's roles" in typo.output


def test_seed_enrols_synthetic_patients_in_bulk(engine: Engine, database_url: str) -> None:
    result = CliRunner().invoke(
        cli,
        ["seed", "--patients", "3", "--pathway", "radiation_sbrt"],
        env={"CAREPATH_DATABASE_URL": database_url},
    )
    assert result.exit_code == 0, result.output
    assert "enrolled 3 synthetic patient(s) on radiation_sbrt" in result.output
    with Session(engine) as session:
        from sqlmodel import select

        assert len(session.exec(select(Enrollment)).all()) == 3
    unknown = CliRunner().invoke(
        cli,
        ["seed", "--patients", "1", "--pathway", "nope"],
        env={"CAREPATH_DATABASE_URL": database_url},
    )
    assert unknown.exit_code == 1 and "no published pathway 'nope'" in unknown.output


def test_publish_validates_and_stores_definitions_once(database_url: str, tmp_path: Path) -> None:
    env = {"CAREPATH_DATABASE_URL": database_url}
    first = CliRunner().invoke(cli, ["publish", str(DEFINITIONS)], env=env)
    assert first.exit_code == 0, first.output
    assert "published pathway chemotherapy v1" in first.output
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        (DEFINITIONS / "surveillance_imaging.yaml")
        .read_text()
        .replace("version: 1", "version: 2")
        .replace("role: radiology", "role: rad")
    )
    refused = CliRunner().invoke(cli, ["publish", str(broken)], env=env)
    assert refused.exit_code == 1
    assert "role 'rad' is not one of this pathway's roles" in refused.output


@pytest.mark.parametrize("command", [["worker"], ["api"]])
def test_distributed_processes_refuse_the_in_process_broker(
    database_url: str, command: list[str]
) -> None:
    env = {
        "CAREPATH_DATABASE_URL": database_url,
        "CAREPATH_BROKER_URL": "",
        "CAREPATH_ADMIN_TOKEN": "x" * 20,
    }
    result = CliRunner().invoke(cli, command, env=env)
    assert result.exit_code == 2
    assert "needs CAREPATH_BROKER_URL=redis://" in result.output
