"""The benchmark report: medians with spread, percentiles, and a doc whose analysis survives."""

from __future__ import annotations

import json
import os
import sys
import types
from pathlib import Path

import pytest

import bench.__main__ as runner
from bench.results import Row, Section, Target, json_rows, percentile


def test_a_row_reports_its_median_and_its_range() -> None:
    row = Row("carepath, in memory", "patients/s", (600.0, 640.0, 620.0))
    assert row.median == 620.0
    assert row.spread == "600-640"
    assert Row("one run", "ms", (3.0,)).spread == ""


def test_percentiles_interpolate_between_samples() -> None:
    samples = [float(n) for n in range(1, 101)]  # 1..100
    assert percentile(samples, 50) == 50.5
    assert percentile(samples, 99) == pytest.approx(99.01)
    assert percentile([5.0], 99) == 5.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_a_run_rewrites_only_the_results_and_keeps_the_analysis(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"# Benchmarks\nintro\n{runner.START}\nold figures\n{runner.END}\nanalysis\n")
    monkeypatch.setattr(runner, "DOC", doc)
    section = Section(
        "1. Core", "how", [Row("a", "x/s", (1.0, 2.0))], [Target(">= 2x", "1.5x", False)]
    )
    runner.write_doc(runner.markdown([section], "make bench", 90.0))
    text = doc.read_text()
    assert text.startswith("# Benchmarks\nintro\n") and text.endswith(f"{runner.END}\nanalysis\n")
    assert "old figures" not in text
    assert "| a | 1.50 | 1.00-2.00 | 2 | x/s |  |" in text
    assert "| >= 2x | 1.5x | **no** |" in text


def test_a_partial_run_replaces_only_its_own_sections(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = tmp_path / "benchmarks.md"
    block = (
        "Run `make bench-full` on then.\n\n### 1. Core\n\nold core\n\n### 2. Persisted\n\nold db\n"
    )
    doc.write_text(f"# Benchmarks\n{runner.START}\n{block}{runner.END}\nanalysis\n")
    monkeypatch.setattr(runner, "DOC", doc)
    fresh = Section("2. Persisted: faster", "how", [Row("applied", "events/s", (9.0,))], [])
    runner.write_sections([fresh], "make bench-full", ["persisted"], 60.0)
    text = doc.read_text()
    assert "old core" in text and "old db" not in text
    assert "### 2. Persisted: faster" in text and "| applied | 9.00 |" in text
    assert "Re-run alone (`make bench-full --only persisted`)" in text
    assert text.index("### 1. Core") < text.index("### 2. Persisted") < text.index("analysis")


def test_a_partial_run_keeps_the_rows_another_module_measured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = tmp_path / "benchmarks.md"
    table = "| measurement | median | spread (min-max) | runs | unit | note |\n|---|---:|---:|---:|"
    rows = "| worker | 90 |  | 1 | MiB |  |\n| polling API | 307 |  | 1 | MiB |  |\n"
    old = f"### 5. Memory\n\nhow\n\n{table}---|---|\n{rows}"
    doc.write_text(f"# Benchmarks\n{runner.START}\nRun.\n\n{old}{runner.END}\n")
    monkeypatch.setattr(runner, "DOC", doc)
    fresh = Section("5. Memory", "how", [Row("worker", "MiB", (99.0,))], [])
    runner.write_sections([fresh], "make bench", ["end_to_end"], 1.0)
    text = doc.read_text()
    assert "| worker | 99.0 |" in text and "| worker | 90 |" not in text
    assert "| polling API | 307 |" in text  # measured by section 4, which did not run


def test_a_doc_without_its_markers_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\nhand-written only\n")
    monkeypatch.setattr(runner, "DOC", doc)
    with pytest.raises(SystemExit, match="lacks the markers"):
        runner.write_doc("figures")
    assert doc.read_text() == "# Benchmarks\nhand-written only\n"


def test_json_rows_carry_the_target_judged_on_them() -> None:
    ratio = Row("carepath / SpiffWorkflow, in memory", "x", (18.0, 21.0, 25.0))
    section = Section(
        "1. Core",
        "how",
        [Row("carepath, in memory", "patients/s", (600.0, 640.0)), ratio],
        [Target(">= 20x SpiffWorkflow in memory", "21.0x", True, ratio.name)],
    )
    rows = json_rows([section])
    assert rows[0] == {
        "section": "1. Core",
        "name": "carepath, in memory",
        "median": 620.0,
        "min": 600.0,
        "max": 640.0,
        "unit": "patients/s",
        "target": None,
        "met": None,
    }
    assert (rows[1]["median"], rows[1]["min"], rows[1]["max"]) == (21.0, 18.0, 25.0)
    assert (rows[1]["target"], rows[1]["met"]) == (">= 20x SpiffWorkflow in memory", True)


def test_only_json_reaches_stdout_with_the_json_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    def run(quick: bool) -> list[Section]:
        print("progress a section prints")
        os.system("echo output of a server the section starts")
        return [Section("1. Core", "how", [Row("a", "x/s", (1.0, 3.0))], [])]

    module = types.ModuleType("bench.fake")
    module.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "bench.fake", module)
    monkeypatch.setattr(runner, "SUITE", ("fake",))
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"{runner.START}\nold\n{runner.END}\n")
    monkeypatch.setattr(runner, "DOC", doc)
    monkeypatch.setattr(sys, "argv", ["bench", "--only", "fake", "--json"])
    runner.main()
    out, err = capfd.readouterr()
    assert json.loads(out) == [
        {
            "section": "1. Core",
            "name": "a",
            "median": 2.0,
            "min": 1.0,
            "max": 3.0,
            "unit": "x/s",
            "target": None,
            "met": None,
        }
    ]
    assert "progress a section prints" in err and "output of a server" in err
    assert doc.read_text() == f"{runner.START}\nold\n{runner.END}\n"
