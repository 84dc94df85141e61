"""The PHI guard itself: it finds a planted name or MRN in a log, and nothing in a clean one."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from pathways.store.logs import scrub
from tests import phi_guard
from tests.phi_guard import leaks


def test_a_name_planted_in_a_log_is_found_with_its_file_and_line(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    log.write_text("event 12 applied\nenrolled Avery Testpatient on chemo\nevent 13 applied\n")

    found = leaks([log], ["Avery Testpatient", "MRN-PLANTED"])

    assert [str(leak) for leak in found] == [f"{log}:2: 'Avery Testpatient'"]


def test_an_mrn_in_a_query_string_is_found_in_any_watched_file(tmp_path: Path) -> None:
    clean, dirty = tmp_path / "api.log", tmp_path / "up.log"
    clean.write_text("GET /patients 200 3.1ms\n")
    dirty.write_text("GET /patients?mrn=MRN-PLANTED 200 3.1ms\n")

    assert [(leak.path, leak.value) for leak in leaks([clean, dirty], ["MRN-PLANTED"])] == [
        (dirty, "MRN-PLANTED")
    ]


def test_values_too_short_to_tell_apart_are_not_looked_for(tmp_path: Path) -> None:
    log = tmp_path / "api.log"
    log.write_text("GET /me 200 1.0ms\n")

    assert leaks([log], ["M", "GET"]) == []


def test_values_that_read_as_codes_are_not_looked_for(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    log.write_text("event 7 waiting (1 in this commit)\n")  # fuzzing registered 'waiting'
    assert phi_guard.leaks([log], ["waiting", "Waiting Patient"]) == []
    assert [leak.value for leak in phi_guard.leaks([log], ["event 7"])] == ["event 7"]


def test_a_record_logged_in_this_process_reaches_the_guarded_file() -> None:
    marker = "phi-guard-self-check-4f1c"
    logging.getLogger("pathways.service.applying").debug("%s", marker)

    in_process = [path for path in phi_guard.LOGS if path.name == "in-process.log"]
    assert in_process, "the guard is not capturing this process's log records"
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert [leak.line > 0 for leak in leaks(in_process, [marker])] == [True]


def test_a_patient_registered_in_this_process_is_remembered_as_phi(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from pathways.store.database import database_engine, upgrade
    from pathways.store.enrollments import register_patient
    from pathways.store.unit_of_work import SqlAlchemyUnitOfWork

    url = f"sqlite:///{tmp_path / 'carepath.db'}"
    upgrade(url)
    engine = database_engine(url)
    with SqlAlchemyUnitOfWork(engine) as uow:
        register_patient(uow, "MRN-GUARD-1", "Guard Selfcheck", "tester", datetime.now(UTC))
        uow.commit()
    engine.dispose()

    assert {"MRN-GUARD-1", "Guard Selfcheck"} <= phi_guard.PHI


@pytest.mark.parametrize(
    "message",
    [
        'duplicate key value violates unique constraint "patient_mrn_key"\n'
        "DETAIL:  Key (mrn)=(MRN-PLANTED) already exists.",
        "[parameters: ('MRN-PLANTED', 'Avery Testpatient')]",
    ],
)
def test_database_error_lines_that_carry_values_are_scrubbed(message: str) -> None:
    scrubbed = scrub(message)

    assert "MRN-PLANTED" not in scrubbed and "Avery" not in scrubbed
    assert "hidden" in scrubbed
