"""`carepath simulate` prints a dated timeline and draws it, and explains what it cannot run."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from pathways.cli import cli
from tests.conftest import DEFINITIONS, ROOT

SCENARIO = ROOT / "docs" / "scenarios" / "chemotherapy_low_anc.yaml"


def _simulate(pathway: str, *options: str) -> tuple[int, str]:
    """Run `carepath simulate definitions/PATHWAY.yaml OPTIONS`; its exit code and output."""
    arguments = ["simulate", str(DEFINITIONS / f"{pathway}.yaml"), *options]
    result = CliRunner().invoke(cli, arguments)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def test_a_scenario_runs_to_the_end_with_the_delay_and_the_hold_on_the_timeline(
    tmp_path: Path,
) -> None:
    chart = tmp_path / "chemo.svg"
    code, output = _simulate(
        "chemotherapy",
        "--start",
        "2026-11-23",
        "--scenario",
        str(SCENARIO),
        "--gantt",
        str(chart),
    )
    assert code == 0, output
    assert output.splitlines()[0].split()[:3] == ["day", "step", "role"]
    assert "[wait] dose_delay" in output
    assert "Assess grade 3 neutropenia" in output
    assert "Mon 2026-11-23 08:00" in output
    assert "ended: completed" in output
    assert chart.read_text().lstrip().startswith(("<?xml", "<svg"))


def test_the_chart_can_be_a_png(tmp_path: Path) -> None:
    chart = tmp_path / "sbrt.png"
    code, output = _simulate(
        "radiation_sbrt",
        "--start",
        "2026-11-23",
        "--gantt",
        str(chart),
    )
    assert code == 0, output
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_parameters_on_the_command_line_change_the_course() -> None:
    code, output = _simulate(
        "chemotherapy",
        "--start",
        "2026-11-23",
        "--param",
        "cycles=2",
    )
    assert code == 0
    assert "Cycle 2 of 2: infusion" in output and "Cycle 3" not in output


def test_a_bad_parameter_is_explained_without_a_traceback() -> None:
    code, output = _simulate("chemotherapy", "--param", "cycles=40")
    assert code == 1
    assert "cannot simulate: parameter 'cycles': 40 is above the maximum 12" in output


def test_a_bad_scenario_is_explained_without_a_traceback(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text("recrod: {}\n")
    code, output = _simulate("chemotherapy", "--scenario", str(scenario))
    assert code == 1
    assert "unknown scenario key 'recrod'" in output


def test_a_scenario_with_data_that_does_not_fit_names_the_day_and_the_reason(
    tmp_path: Path,
) -> None:
    scenario = tmp_path / "bad_data.yaml"
    scenario.write_text("record:\n  baseline_labs: {anc: high}\n")
    code, output = _simulate(
        "chemotherapy",
        "--start",
        "2026-11-23",
        "--scenario",
        str(scenario),
    )
    assert code == 1
    assert "day 3.0: 'anc': 'high' is not a number" in output


def test_a_patient_attribute_is_read_with_its_declared_type() -> None:
    code, output = _simulate(
        "tumour_board",
        "--start",
        "2026-11-23",
        "--patient",
        "bilsky_grade=3",
        "--patient",
        "sins=9",
        "--patient",
        "radiosensitive=false",
    )
    assert code == 0, output
    assert "ended:" in output


def test_a_chart_in_an_unknown_format_is_refused_before_anything_runs(tmp_path: Path) -> None:
    code, output = _simulate("radiation_sbrt", "--gantt", str(tmp_path / "chart.pdf"))
    assert code == 2
    assert "the chart is written as .svg or .png" in output
    assert "day  step" not in output
