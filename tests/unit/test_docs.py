"""The examples in docs/ are real: each `yaml` block validates, or fails as it says it does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import ROOT, check_yaml

_BLOCK = re.compile(r"```yaml\n(.*?)```", re.DOTALL)
_EXPECT = re.compile(r"# expect-error: (.+)\n")
_SCENARIO = re.compile(r"# scenario for (\S+)(?: ending (\S+))?\n")


def _examples() -> list[tuple[str, str]]:
    found = []
    for doc in sorted((ROOT / "docs").glob("*.md")):
        for index, match in enumerate(_BLOCK.finditer(doc.read_text(encoding="utf-8"))):
            found.append((f"{doc.stem}-{index}", match.group(1)))
    return found


EXAMPLES = _examples()


def test_the_language_reference_has_examples() -> None:
    assert sum(name.startswith("language-") for name, _ in EXAMPLES) >= 6


@pytest.mark.parametrize(("name", "text"), EXAMPLES, ids=[name for name, _ in EXAMPLES])
def test_doc_example_behaves_as_the_doc_says(name: str, text: str, tmp_path: Path) -> None:
    scenario = _SCENARIO.match(text)
    if scenario:
        _simulate_scenario(scenario.group(1), scenario.group(2), text)
        return
    problems = check_yaml(text, tmp_path, f"{name}.yaml")
    expected = _EXPECT.match(text)
    rendered = [problem.render() for problem in problems]
    if expected:
        assert any(expected.group(1) in problem.message for problem in problems), rendered
    else:
        assert rendered == []


def test_every_top_level_and_step_key_is_documented() -> None:
    from pathways.language import ALL_STEP_KEYS, CALENDAR_NAMES, HANDLER_NAMES, TOP_NAMES

    text = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    for key in {*TOP_NAMES, *ALL_STEP_KEYS, *HANDLER_NAMES, *CALENDAR_NAMES}:
        assert f"`{key}`" in text, f"docs/language.md does not mention `{key}`"


def _simulate_scenario(definition_file: str, outcome: str | None, text: str) -> None:
    """A scenario example runs to an end (with the outcome the doc names, if it names one)."""
    from datetime import UTC, datetime

    from pathways.library import load
    from pathways.runtime.definition import load_definition
    from pathways.runtime.scenario import scenario_from
    from pathways.runtime.simulation import simulate
    from pathways.yamlsource import parse, to_plain

    library = load([ROOT / "definitions"])
    pathway = next(p for p in library.pathways.values() if p.file.endswith(definition_file))
    definition = load_definition(library, pathway.id, pathway.version)
    timeline = simulate(
        definition, datetime(2026, 11, 23, 13, 0, tzinfo=UTC), scenario_from(to_plain(parse(text)))
    )
    assert timeline.status in ("completed", "stopped"), timeline.note
    if outcome:
        assert timeline.outcome == outcome
