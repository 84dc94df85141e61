"""Shared paths and helpers for the test suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from pathways.library import Library, load
from pathways.problems import Problem

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
