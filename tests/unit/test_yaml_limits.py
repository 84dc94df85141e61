"""Hostile and oversized YAML is refused while it is parsed, as an ordinary problem at its line.

The outside campaign of issue 19: a 477-byte billion laughs, 10,000 nested brackets, a
`!!python` tag, a 900 kB title and a 15,000-step pathway. Each is refused by `carepath validate`
with exit 1 and no traceback, and by the reader with its reason. Memory is measured; time never.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pathways.library import Library, add_text, load
from pathways.limits import (
    MAX_DOCUMENT_BYTES,
    MAX_EXPRESSION_CHARS,
    MAX_ID_CHARS,
    MAX_LONG_TEXT_CHARS,
    MAX_STEPS,
    MAX_TEXT_CHARS,
)
from pathways.problems import Problem
from tests.conftest import DEFINITIONS

HEAD = "pathway: hostile\nversion: 1\ntitle: Hostile\nmodality: surgery\nroles: [lab]\n"
ONE_STEP = "steps:\n  - {id: labs, task: Labs, role: lab, due: P1D}\n"
MEGABYTE = 1024  # ru_maxrss is in kB on Linux


def billion_laughs() -> str:
    """Nine levels of nine aliases: 10^9 strings once expanded, under 500 bytes written."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 9):
        name, previous = chr(ord("a") + level), chr(ord("a") + level - 1)
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def steps(count: int) -> str:
    """A pathway of `count` waits, one per line."""
    return HEAD + "steps:\n" + "".join(f"  - {{id: s{i}, wait: P1D}}\n" for i in range(count))


def problems_of(text: str) -> list[Problem]:
    """What the reader and the validator report for one text."""
    library = Library()
    add_text(library, text, "hostile.yaml")
    library.files = ["hostile.yaml"]
    return library.report()


def the_problem(text: str) -> Problem:
    """The single problem reported."""
    found = problems_of(text)
    assert len(found) == 1, [problem.render() for problem in found]
    return found[0]


def validate(path: Path) -> tuple[int, str, int]:
    """`carepath validate PATH` in a child process: exit code, output and its peak RSS in kB.

    A go-between process runs it and reads RUSAGE_CHILDREN, so the figure is that one child's,
    not the largest of every child this test session has run. Its address space is capped at
    2 GB so a regression fails with MemoryError instead of exhausting the machine.
    """
    script = (
        "import resource, subprocess, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "sys.stdout.write(done.stdout + done.stderr)\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "sys.stdout.write(f'\\nexit={done.returncode} peak={peak}')\n"
    )
    command = [sys.executable, "-c", "from pathways.cli import main; main()", "validate", str(path)]
    done = subprocess.run(
        [sys.executable, "-c", script, *command], capture_output=True, text=True, timeout=300
    )
    output, _, tail = done.stdout.rpartition("\nexit=")
    code, _, peak = tail.partition(" peak=")
    return int(code), output, int(peak)


def test_a_billion_laughs_is_refused_by_the_cli_with_its_reason_in_little_memory(
    tmp_path: Path,
) -> None:
    path = tmp_path / "laughs.yaml"
    path.write_text(billion_laughs(), encoding="utf-8")
    assert len(path.read_bytes()) < 500
    code, output, peak = validate(path)
    assert code == 1, output
    assert "Traceback" not in output
    assert f"{path}:5:8: (limits): " in output
    assert "the file holds more than 10,000 values (aliases counted in full)" in output
    assert peak < 200 * MEGABYTE, f"peak RSS {peak // MEGABYTE} MB"


def test_the_reader_refuses_a_billion_laughs_at_the_alias_that_passes_the_limit() -> None:
    problem = the_problem(billion_laughs())
    assert problem.over_limit
    assert (problem.line, problem.where) == (5, "(limits)")  # 9^5 values pass 10,000
    assert "aliases counted in full" in problem.message
    assert "alias" in problem.hint


def test_a_few_aliases_of_small_values_are_still_read() -> None:
    text = (
        HEAD + "steps:\n"
        "  - {id: labs, task: Labs, role: lab, due: &soon P1D, record: &counts {anc: number}}\n"
        "  - {id: repeat_labs, task: Repeat labs, role: lab, due: *soon, record: *counts}\n"
    )
    assert problems_of(text) == []


@pytest.mark.parametrize(
    "nesting",
    [
        "[" * 10_000 + "]" * 10_000,
        "{a: " * 10_000 + "1" + "}" * 10_000,
        "\n" + "".join("  " * depth + f" k{depth}:\n" for depth in range(1, 200)) + "  end",
        "\n" + "".join("  " * depth + "-\n" for depth in range(200)) + "  " * 200 + "end",
    ],
    ids=["brackets", "braces", "block mappings", "block lists"],
)
def test_deep_nesting_is_refused_at_the_41st_level(nesting: str) -> None:
    problem = the_problem(HEAD + ONE_STEP + "description: " + nesting + "\n")
    assert problem.over_limit and problem.where == "(limits)"
    assert problem.message == "values are nested more than 40 levels deep"
    assert problem.line >= 8


def test_the_cli_reports_10000_nested_brackets_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(HEAD + ONE_STEP + "description: " + "[" * 10_000 + "\n", encoding="utf-8")
    code, output, _ = validate(path)
    assert code == 1
    assert "Traceback" not in output
    assert f"{path}:8:54: (limits): values are nested more than 40 levels deep" in output


@pytest.mark.parametrize(
    ("value", "tag"),
    [
        ('!!python/object/apply:os.system ["touch /tmp/owned"]', "python/object/apply:os.system"),
        ("!!python/name:os.system ''", "python/name:os.system"),
        ("!!binary aGVsbG8=", "binary"),
        ("!!set {a, b}", "set"),
        ("!!timestamp 2026-12-01", "timestamp"),
        ("!clinic_only text", "!clinic_only"),
    ],
)
def test_a_tag_outside_the_yaml_core_schema_is_refused_at_its_line(value: str, tag: str) -> None:
    text = HEAD + "steps:\n  - id: labs\n    task: " + value + "\n    role: lab\n    due: P1D\n"
    problem = the_problem(text)
    assert problem.over_limit
    assert (problem.line, problem.column) == (8, 11)
    assert tag in problem.message and "is not allowed" in problem.message


def test_core_tags_are_read_as_their_values() -> None:
    text = (
        "pathway: tagged\nversion: !!int 1\ntitle: !!str yes\nmodality: surgery\n"
        "roles: !!seq [lab]\nsteps:\n  - !!map {id: labs, task: !!str 3, role: lab, due: P1D}\n"
    )
    assert problems_of(text) == []
    library = Library()
    add_text(library, text, "tagged.yaml")
    pathway = library.pathways[("tagged", 1)]
    assert pathway.title == "yes"  # `!!str` keeps a YAML 1.1 boolean word as text
    assert pathway.steps[0].title == "3"


def test_an_alias_inside_its_own_anchor_is_refused() -> None:
    problem = the_problem(HEAD + "steps: &s\n  - {id: labs, steps: *s, title: Again}\n")
    assert problem.message.startswith("the alias *s is inside its own anchor")
    assert problem.line == 7


def test_a_merge_key_is_refused_rather_than_crashing_the_reader() -> None:
    text = (
        HEAD + "steps:\n  - &labs {id: labs, task: Labs, role: lab, due: P1D}\n"
        "  - <<: *labs\n    id: more_labs\n"
    )
    problem = the_problem(text)
    assert problem.message == "merge keys (<<) are not part of YAML 1.2"
    assert problem.line == 8


def test_a_900_kb_title_is_refused_as_too_big_a_file(tmp_path: Path) -> None:
    path = tmp_path / "title.yaml"
    path.write_text(HEAD.replace("Hostile", "x" * 900_000) + ONE_STEP, encoding="utf-8")
    code, output, _ = validate(path)
    assert code == 1
    assert f"the file is 900,{path.stat().st_size % 1000:03d} bytes" in output
    assert f"the limit is {MAX_DOCUMENT_BYTES:,}" in output


def test_a_single_value_over_10000_characters_is_refused_while_parsing() -> None:
    problem = the_problem(HEAD + ONE_STEP + "description: " + "x" * 20_000 + "\n")
    assert problem.message == "this value is 20,000 characters long; the limit is 10,000"
    assert (problem.line, problem.where) == (8, "(limits)")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            HEAD.replace("Hostile", "T" * (MAX_TEXT_CHARS + 1)) + ONE_STEP,
            f"'title' is {MAX_TEXT_CHARS + 1} characters long; the limit is {MAX_TEXT_CHARS}",
        ),
        (
            HEAD + ONE_STEP.replace("task: Labs", "task: " + "L" * (MAX_TEXT_CHARS + 1)),
            f"'task' is {MAX_TEXT_CHARS + 1} characters long",
        ),
        (
            HEAD + ONE_STEP.replace("id: labs", "id: " + "l" * (MAX_ID_CHARS + 1)),
            f"a step id is {MAX_ID_CHARS + 1} characters long",
        ),
        (
            HEAD.replace("pathway: hostile", "pathway: " + "h" * (MAX_ID_CHARS + 1)) + ONE_STEP,
            f"a pathway id is {MAX_ID_CHARS + 1} characters long",
        ),
        (
            HEAD.replace("[lab]", "[" + "l" * (MAX_ID_CHARS + 1) + "]") + ONE_STEP,
            f"a role is {MAX_ID_CHARS + 1} characters long",
        ),
        (
            HEAD
            + ONE_STEP.replace("}", ", instructions: " + "i" * (MAX_LONG_TEXT_CHARS + 1) + "}"),
            f"'instructions' is {MAX_LONG_TEXT_CHARS + 1:,} characters long",
        ),
        (
            HEAD + "description: " + "d" * (MAX_LONG_TEXT_CHARS + 1) + "\n" + ONE_STEP,
            f"'description' is {MAX_LONG_TEXT_CHARS + 1:,} characters long",
        ),
        (
            HEAD + ONE_STEP.replace("}", ", when: '" + "1 < 2 and " * 30 + "true'}"),
            f"the 'when' expression is {len('1 < 2 and ' * 30 + 'true')} characters long; "
            f"the limit is {MAX_EXPRESSION_CHARS}",
        ),
        (
            HEAD
            + "parameters:\n  site: {type: string, default: a, unit: "
            + "u" * (MAX_TEXT_CHARS + 1)
            + "}\n"
            + ONE_STEP,
            f"'unit' is {MAX_TEXT_CHARS + 1} characters long",
        ),
        (
            HEAD
            + "parameters:\n  site: {enum: [a, "
            + "e" * (MAX_TEXT_CHARS + 1)
            + "], default: a}\n"
            + ONE_STEP,
            f"an enum value is {MAX_TEXT_CHARS + 1} characters long",
        ),
    ],
    ids=[
        "title",
        "task",
        "step id",
        "pathway id",
        "role",
        "instructions",
        "description",
        "expression",
        "unit",
        "enum value",
    ],
)
def test_every_text_of_the_language_has_a_length_limit(text: str, message: str) -> None:
    found = problems_of(text)
    assert any(message in problem.message and problem.over_limit for problem in found), [
        problem.render() for problem in found
    ]


def test_a_text_at_its_limit_is_valid() -> None:
    text = HEAD.replace("Hostile", "T" * MAX_TEXT_CHARS) + ONE_STEP.replace(
        "id: labs", "id: " + "l" * MAX_ID_CHARS
    )
    assert problems_of(text) == []


def test_a_pathway_over_the_step_limit_is_refused_and_not_checked_further() -> None:
    text = steps(MAX_STEPS + 1).replace("wait: P1D}\n", "wait: P1D, then: nowhere}\n", 1)
    problem = the_problem(text)  # the bad 'then' target is not reported: checking stops
    assert problem.message == f"the pathway has {MAX_STEPS + 1} steps; the limit is {MAX_STEPS}"
    assert (problem.line, problem.where, problem.over_limit) == (7, "(limits)", True)
    assert problems_of(steps(MAX_STEPS)) == []


def test_a_15000_step_pathway_is_refused_by_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text(steps(15_000), encoding="utf-8")
    code, output, _ = validate(path)
    assert code == 1
    assert "Traceback" not in output
    assert f"{path}:1:1: (limits): the file is " in output


def test_the_shipped_library_is_well_within_the_limits() -> None:
    library = load([DEFINITIONS])
    assert library.report() == []
    assert max(len(list(p.walk())) for p in library.pathways.values()) * 10 < MAX_STEPS
