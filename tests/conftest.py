"""Shared paths and helpers for the test suite."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from pathways.calendars import ClinicCalendar
from pathways.library import Library, load
from pathways.model import MISSING
from pathways.problems import Problem
from pathways.runtime.definition import Definition, load_definition

# Every run is checked for patients' names and MRNs in its logs (see tests/phi_guard.py).
pytest_plugins = ["tests.phi_guard"]

ROOT = Path(__file__).resolve().parent.parent
DEFINITIONS = ROOT / "definitions"


def check_yaml(text: str, directory: Path, name: str = "pathway.yaml") -> list[Problem]:
    """Validate one YAML text against the shipped library; the problems found."""
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return load([path], [DEFINITIONS]).report()


def messages(problems: list[Problem]) -> list[str]:
    """Just the messages, for readable assertions."""
    return [problem.message for problem in problems]


@pytest.fixture(scope="session")
def library() -> Library:
    """The shipped pathway library, validated once."""
    return load([DEFINITIONS])


@pytest.fixture(scope="session")
def definitions(library: Library) -> Callable[[str], Definition]:
    """Compiled definitions of the shipped library, by pathway id."""
    calendars: dict[str, ClinicCalendar] = {}
    cache: dict[str, Definition] = {}

    def get(pathway_id: str) -> Definition:
        if pathway_id not in cache:
            cache[pathway_id] = load_definition(library, pathway_id, calendars=calendars)
        return cache[pathway_id]

    return get


def typical_patient(definition: Definition) -> dict[str, Any]:
    """Patient attributes for a definition: the first enum value, or a plain value per type."""
    plain = {"integer": 5, "number": 1.0, "boolean": False, "string": "unknown"}
    return {
        name: field.enum[0] if field.enum else plain[field.type]
        for name, field in definition.pathway.patient.items()
        if field.default is MISSING
    }


def toronto(*parts: int) -> datetime:
    """A wall-clock moment in the clinic's zone, as UTC."""
    return datetime(*parts, tzinfo=ZoneInfo("America/Toronto")).astimezone(UTC)  # type: ignore[misc]
