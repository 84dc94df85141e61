"""A pytest plugin: a test run whose logs hold a patient's name or MRN fails.

What is scanned, at the end of the session:
- every log record emitted in this process (DEBUG and up) while the tests ran, kept in one file
  under the session's temporary folder;
- the log of every process a test starts (`CarepathProcess` registers it with `watch`).
What is looked for: the MRN and display name of every patient registered in this process
during the run (a hook on inserts of Patient rows), and of the demo patients that
`carepath up` seeds in a subprocess. Values shorter than MIN_LENGTH are skipped ("M" would
match everywhere), and so are values that read as codes (lower-case letters and underscores
only, such as `waiting`): logs are made of such codes by design, and the API fuzzing
(schemathesis) registers patients with whatever strings it draws, the schema's own enum values
among them; the tests' real patients have capitalised names and MRNs. A hit sets the exit
status to "tests failed" and lists file:line of each.

Two loggers are kept quiet, on purpose: `sqlalchemy` (at INFO/DEBUG it is the opt-in SQL echo,
which prints result rows by design and is never on in production) and the HTTP client the
tests use (httpx logs each URL it requests, queries and all: that is the tests' client, not
carepath; the server side is `carepath.access`, which is scanned).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

MIN_LENGTH = 4
CODE = re.compile(r"[a-z_]+")  # reads as one of the codes logs carry: not told apart from PHI
QUIET = ("sqlalchemy", "httpx", "httpx2", "httpcore")
LOGS: list[Path] = []
PHI: set[str] = set()
LEAKS: list[Leak] = []


@dataclass(frozen=True)
class Leak:
    """A patient's MRN or name found in a log file."""

    path: Path
    line: int
    value: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.value!r}"


def watch(path: Path) -> None:
    """Scan this log file (a subprocess's) at the end of the session."""
    LOGS.append(path)


def remember(*values: str) -> None:
    """Count these values (a patient's MRN, name) as PHI for this session."""
    PHI.update(value for value in values if _telling(value))


def _telling(value: str) -> bool:
    return len(value.strip()) >= MIN_LENGTH and not CODE.fullmatch(value.strip())


def leaks(files: Iterable[Path], values: Iterable[str]) -> list[Leak]:
    """Every line of `files` that holds one of `values`, with the value found."""
    wanted = sorted({value for value in values if _telling(value)}, key=len)
    if not wanted:
        return []
    pattern = re.compile("|".join(re.escape(value) for value in reversed(wanted)))
    found: list[Leak] = []
    for path in files:
        if not path.is_file():
            continue
        with path.open(encoding="utf-8", errors="replace") as lines:
            for number, line in enumerate(lines, start=1):
                match = pattern.search(line)
                if match:
                    found.append(Leak(path, number, match.group()))
    return found


def _remember_patient(_mapper: Any, _connection: Any, patient: Any) -> None:
    remember(patient.mrn, patient.display_name)


@pytest.fixture(scope="session", autouse=True)
def _phi_guard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Send every in-process log record to a file, and note every patient registered."""
    from sqlalchemy import event

    from pathways.service.demo import PATIENTS
    from pathways.store.tables import Patient

    for mrn, name, *_ in PATIENTS:
        remember(mrn, name)
    event.listen(Patient, "before_insert", _remember_patient)
    path = tmp_path_factory.mktemp("phi-guard") / "in-process.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in ("", *QUIET)}
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    watch(path)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        event.remove(Patient, "before_insert", _remember_patient)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Fail the run when a log holds PHI."""
    LEAKS[:] = leaks(LOGS, PHI)
    if LEAKS:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say where each leak is."""
    if not LEAKS:
        return
    terminalreporter.section("PHI in logs", sep="=", red=True, bold=True)
    terminalreporter.write_line(
        f"{len(LEAKS)} log line(s) hold a patient's MRN or name; logs must carry ids only:"
    )
    for leak in LEAKS[:50]:
        terminalreporter.write_line(f"  {leak}")
