"""Each broken definition in tests/corpus/broken yields its one expected error, no traceback.

A corpus file starts with `# expect-line: N` and `# expect-message: TEXT`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pathways.library import load
from tests.conftest import DEFINITIONS

CORPUS = sorted((Path(__file__).parent.parent / "corpus" / "broken").glob("*.yaml"))
_HEADER = re.compile(r"# expect-line: (\d+)\n# expect-message: (.+)\n")


def test_the_corpus_holds_at_least_thirty_broken_definitions() -> None:
    assert len(CORPUS) >= 30


@pytest.mark.parametrize("path", CORPUS, ids=lambda path: path.stem)
def test_broken_definition_reports_its_error_at_its_line(path: Path) -> None:
    header = _HEADER.match(path.read_text(encoding="utf-8"))
    assert header, f"{path.name} lacks its expect-line/expect-message header"
    line, message = int(header.group(1)), header.group(2).strip()
    problems = load([path], [DEFINITIONS]).report()
    assert problems, f"{path.name}: no problem reported"
    assert all(problem.file == str(path) for problem in problems)
    rendered = "\n".join(problem.render() for problem in problems)
    # One mistake, one report: no cascade of follow-on errors hides the real one.
    assert len(problems) == 1, rendered
    assert message in problems[0].message, rendered
    assert problems[0].line == line, rendered
