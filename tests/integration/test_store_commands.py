"""The database commands: replay --verify, webhooks, seed, migrate and publish."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from pathways.cli import cli
from pathways.model import Task
from pathways.store.applying import apply_event
from pathways.store.definitions import compiled, publish_directory
from pathways.store.enrollments import enrol, record_event, register_patient
from pathways.store.staff_tasks import complete_task
from pathways.store.tables import Enrollment, PathwayDefinition, StaffTask
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork
from tests.conftest import DEFINITIONS, toronto

T0 = toronto(2026, 11, 23, 9, 0)

# The five pathways as published before their treatment steps were marked (version 1 of
# each, from commit 1e73779): what an existing database holds.
LIBRARY_V1 = Path(__file__).parent / "definitions" / "library_v1"


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
    assert "published pathway chemotherapy v2" in first.output
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


def _previous_library(tmp_path: Path) -> Path:
    """The shipped library as it was: today's definitions/ with the five version-1 texts."""
    library = tmp_path / "library_before_treatment_steps"
    shutil.copytree(DEFINITIONS, library)
    for old in LIBRARY_V1.glob("*.yaml"):
        shutil.copyfile(old, library / old.name)
    return library


def _treat(engine: Engine, enrollment_id: str) -> None:
    """Complete the enrollment's ready tasks, with counts that allow a cycle, until the first
    infusion is done."""
    counts = {"anc": 2100, "platelets": 190000}
    for _ in range(20):
        with Session(engine) as session:
            ready = session.exec(
                select(StaffTask)
                .where(StaffTask.enrollment_id == enrollment_id, StaffTask.status == "ready")
                .order_by(col(StaffTask.created_at), col(StaffTask.id))
            ).all()
        assert ready, "the pathway stopped before its first infusion"
        for task in ready:
            data = {name: counts[name] for name in task.record_fields}
            with SqlAlchemyUnitOfWork(engine) as uow:
                event, _ = complete_task(uow, task.id, data, "nurse.jones", T0)
                uow.commit()
            assert event.id is not None
            with SqlAlchemyUnitOfWork(engine) as uow:
                assert apply_event(uow, event.id, T0).outcome == "applied"
                uow.commit()
            if task.step == "infusion":
                return
    raise AssertionError("no infusion within 20 rounds of tasks")


def _enrolled_and_treated(engine: Engine, mrn: str) -> Enrollment:
    with SqlAlchemyUnitOfWork(engine) as uow:
        patient = register_patient(uow, mrn, "Patient Upgrade", "kim", T0)
        enrollment = enrol(uow, patient.id, "chemotherapy", None, {"cycles": 2}, {}, "kim", T0)
        uow.commit()
    _treat(engine, enrollment.id)
    with Session(engine) as session:
        treated = session.get(Enrollment, enrollment.id)
        assert treated is not None
        return treated


def _pinned_task(engine: Engine, enrollment: Enrollment, step: str) -> Task:
    """A task step of the definition an enrollment is pinned to."""
    with Session(engine) as session:
        row = session.get(PathwayDefinition, enrollment.definition_id)
        assert row is not None
        found = compiled(session, row).steps[step]
    assert isinstance(found, Task)
    return found


def test_the_library_with_treatment_steps_publishes_over_the_previous_one(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    """The upgrade `carepath publish definitions/` makes on an existing database (the compose
    `migrate` service, `carepath up` on an old carepath.db): the changed pathways arrive as
    version 2, and an enrollment pinned to version 1 keeps replaying from its own text."""
    with SqlAlchemyUnitOfWork(engine) as uow:
        publish_directory(uow.session, _previous_library(tmp_path), "informaticist", T0)
        uow.commit()
    on_v1 = _enrolled_and_treated(engine, "MRN-U1")
    assert (on_v1.pathway, on_v1.pathway_version) == ("chemotherapy", 1)
    assert on_v1.first_treatment_at is None  # version 1 marks no step as a treatment

    env = {"CAREPATH_DATABASE_URL": database_url}
    upgrade = CliRunner().invoke(cli, ["publish", str(DEFINITIONS)], env=env)
    assert upgrade.exit_code == 0, upgrade.output
    for pathway in ("chemotherapy", "surgery", "radiation_conventional", "radiation_sbrt"):
        assert f"published pathway {pathway} v2" in upgrade.output
    assert "published pathway multimodality_plan v2" in upgrade.output
    assert "published pathway tumour_board v1" in upgrade.output  # unchanged: the row it had

    with Session(engine) as session:
        rows = session.exec(select(PathwayDefinition).where(PathwayDefinition.kind == "pathway"))
        versions: dict[str, list[int]] = {}
        for row in rows:
            versions.setdefault(row.pathway, []).append(row.version)
        assert {name: sorted(held) for name, held in versions.items()} == {
            "chemotherapy": [1, 2],
            "surgery": [1, 2],
            "radiation_conventional": [1, 2],
            "radiation_sbrt": [1, 2],
            "multimodality_plan": [1, 2],
            "tumour_board": [1],
            "surveillance_imaging": [1],
            "clinical_trial_screening": [1],
        }
        v1_text = session.exec(
            select(PathwayDefinition.content).where(
                PathwayDefinition.pathway == "chemotherapy", PathwayDefinition.version == 1
            )
        ).one()
        assert v1_text == (LIBRARY_V1 / "chemotherapy.yaml").read_text(encoding="utf-8")
        plan = session.exec(
            select(PathwayDefinition).where(
                PathwayDefinition.pathway == "multimodality_plan", PathwayDefinition.version == 2
            )
        ).one()
        callees = {callee.key for callee in compiled(session, plan).callees.values()}
        assert callees == {"tumour_board@1", "chemotherapy@2", "surgery@2", "radiation_sbrt@2"}

    on_v2 = _enrolled_and_treated(engine, "MRN-U2")  # no version named: the latest
    assert on_v2.pathway_version == 2
    infusion = _pinned_task(engine, on_v2, "infusion")
    assert infusion.treatment and on_v2.first_treatment_at is not None

    code, output = _replay(database_url, "--all")
    assert code == 0, output
    assert f"{on_v1.id}: matches" in output and f"{on_v2.id}: matches" in output
    assert "2 enrollment(s) replayed, 0 differ" in output
    again = CliRunner().invoke(cli, ["publish", str(DEFINITIONS)], env=env)
    assert again.exit_code == 0, again.output  # the same text again changes nothing
    with Session(engine) as session:
        held = session.exec(select(PathwayDefinition.id)).all()
        assert len(held) == 9 + 5  # the previous library and the five new versions, once
