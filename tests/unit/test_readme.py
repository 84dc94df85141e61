"""The README's tour runs as written: each `$ carepath ...` line exits as documented."""

from __future__ import annotations

import re
import shlex

import pytest
from click.testing import CliRunner

from pathways.cli import cli
from tests.conftest import ROOT

_COMMAND = re.compile(r"^\$ carepath (.+?)(\s+# exits (\d+))?$", re.MULTILINE)
COMMANDS = [
    (match.group(1), int(match.group(3) or 0))
    for match in _COMMAND.finditer((ROOT / "README.md").read_text(encoding="utf-8"))
]


def test_the_tour_has_commands() -> None:
    assert len(COMMANDS) >= 5


@pytest.mark.parametrize(("command", "exit_code"), COMMANDS, ids=[c for c, _ in COMMANDS])
def test_tour_command_exits_as_documented(
    command: str, exit_code: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(cli, shlex.split(command))
    assert result.exit_code == exit_code, result.output


def test_the_documented_error_is_the_one_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(cli, ["validate", "tests/corpus/broken/35_unknown_role_task.yaml"])
    for line in result.output.splitlines()[:2]:
        assert line in readme
