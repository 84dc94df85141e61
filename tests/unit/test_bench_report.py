"""The benchmark report: medians with spread, percentiles, and a doc whose analysis survives."""

from __future__ import annotations

from pathlib import Path

import pytest

import bench.__main__ as runner
from bench.results import Row, Section, Target, percentile


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


def test_a_doc_without_its_markers_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\nhand-written only\n")
    monkeypatch.setattr(runner, "DOC", doc)
    with pytest.raises(SystemExit, match="lacks the markers"):
        runner.write_doc("figures")
    assert doc.read_text() == "# Benchmarks\nhand-written only\n"
