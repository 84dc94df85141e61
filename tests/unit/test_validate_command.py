"""`carepath validate`, `diagram` and `schema` as an informaticist uses them."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from pathways.cli import cli
from pathways.library import definition_files
from pathways.yamlsource import parse, to_plain
from tests.conftest import DEFINITIONS

TWO_MISTAKES = """\
pathway: preop
version: 1
title: Pre-operative work-up
modality: surgery
roles: [surgeon, lab]
steps:
  - {id: labs, task: Pre-op labs, role: lab, due: 3 days}
  - {id: review, task: Review labs, rol: surgeon, due: P1D}
"""


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_every_problem_is_reported_at_once_with_file_line_column_and_hint(
    tmp_path: Path,
) -> None:
    path = tmp_path / "preop.yaml"
    path.write_text(TWO_MISTAKES, encoding="utf-8")
    code, output = _run("validate", str(path), "--library", str(DEFINITIONS))
    assert code == 1
    assert f"{path}:7:51: labs: '3 days' is not an ISO 8601 duration" in output
    assert f"{path}:8:37: review: unknown key 'rol' in a task step" in output
    assert "hint: did you mean 'role'?" in output
    assert "missing required key 'role'" not in output  # the misspelling says it all
    assert "2 problem(s) in 1 of 1 file(s)" in output


def test_the_shipped_library_validates_with_exit_0() -> None:
    code, output = _run("validate", str(DEFINITIONS))
    assert code == 0
    assert "no problems" in output


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\x00\x01\xff\xfe",
        b"- just\n- a list\n",
        b"just text",
        b"pathway: [\n",
        b"pathway: x\n" * 3,
        b"pathway: x\x1b\n",
    ],
    ids=["empty", "binary", "list", "scalar", "unclosed", "duplicate-keys", "control-char"],
)
def test_garbage_gets_a_message_never_a_traceback(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "garbage.yaml"
    path.write_bytes(content)
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert f"{path}:" in result.output


def test_a_copy_of_a_library_pathway_validates_against_the_library_without_clashing(
    tmp_path: Path,
) -> None:
    copy = tmp_path / "chemotherapy.yaml"
    copy.write_text((DEFINITIONS / "chemotherapy.yaml").read_text(encoding="utf-8"))
    code, output = _run("validate", str(copy), "--library", str(DEFINITIONS))
    assert (code, output.strip()) == (0, "checked 1 file(s): no problems")


def test_diagram_prints_mermaid_for_a_pathway() -> None:
    code, output = _run("diagram", str(DEFINITIONS / "chemotherapy.yaml"))
    assert code == 0
    assert output.startswith("flowchart TD\n")
    assert 's_counts_check -->|"anc < anc_min or platelets < platelets_min"| s_dose_delay' in (
        output.replace("#lt;", "<")
    )


def test_diagram_of_a_broken_file_reports_problems_instead(tmp_path: Path) -> None:
    path = tmp_path / "preop.yaml"
    path.write_text(TWO_MISTAKES, encoding="utf-8")
    code, output = _run("diagram", str(path))
    assert code == 1
    assert "flowchart" not in output
    assert "not an ISO 8601 duration" in output


def test_the_json_schema_accepts_every_shipped_definition() -> None:
    code, output = _run("schema")
    assert code == 0
    schema = json.loads(output)
    jsonschema.Draft202012Validator.check_schema(schema)
    for path in definition_files([DEFINITIONS]):
        document = json.loads(json.dumps(to_plain(parse(path.read_text())), default=str))
        jsonschema.validate(document, schema)


def test_the_json_schema_refuses_an_unknown_step_key() -> None:
    schema = json.loads(_run("schema")[1])
    document = to_plain(parse(TWO_MISTAKES.replace("due: 3 days", "due: P3D")))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, schema)
