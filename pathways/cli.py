"""The `carepath` command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, time
from pathlib import Path
from typing import Any

import click

# The database and process commands register themselves on the group when imported.
from pathways import cli_events, cli_operations, cli_webhooks  # noqa: F401
from pathways.cli_group import cli
from pathways.diagram import mermaid
from pathways.gantt import draw
from pathways.library import Library, load
from pathways.machine import compile_pathway
from pathways.model import Field
from pathways.runtime.definition import load_definition
from pathways.runtime.events import EventRejected
from pathways.runtime.scenario import Scenario, ScenarioError, scenario_from
from pathways.runtime.simulation import simulate as run_simulation
from pathways.runtime.timeline import render_timeline
from pathways.schema import pathway_schema
from pathways.yamlsource import Scalar, YamlSyntaxError, parse, to_plain

__all__ = ["cli", "main"]

DEFAULT_LIBRARY = Path("definitions")


def _context(library_dir: str | None) -> list[str]:
    if library_dir:
        return [library_dir]
    return [str(DEFAULT_LIBRARY)] if DEFAULT_LIBRARY.is_dir() else []


def _report(library: Library) -> int:
    problems = library.report()
    for problem in problems:
        click.echo(problem.render())
    files = len(library.files)
    with_problems = len({problem.file for problem in problems})
    if problems:
        click.echo(f"{len(problems)} problem(s) in {with_problems} of {files} file(s)", err=True)
        return 1
    click.echo(f"checked {files} file(s): no problems", err=True)
    return 0


_library_option = click.option(
    "--library",
    "library_dir",
    metavar="DIR",
    help="Definitions used to resolve calls and calendars (default: ./definitions).",
)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@_library_option
def validate(paths: tuple[str, ...], library_dir: str | None) -> None:
    """Check pathway and calendar files; report every problem; exit 1 on any."""
    sys.exit(_report(load(paths, _context(library_dir))))


@cli.command()
def schema() -> None:
    """Print the JSON Schema of the pathway language (for editors)."""
    click.echo(json.dumps(pathway_schema(), indent=2))


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@_library_option
def diagram(file: str, library_dir: str | None) -> None:
    """Print a pathway's state machine as a Mermaid flowchart."""
    library = load([file], _context(library_dir))
    problems = library.report()
    pathways = [p for p in library.pathways.values() if p.file == file]
    if problems or not pathways:
        sys.exit(_report(library) or 1)
    click.echo(mermaid(compile_pathway(pathways[0])), nl=False)


@cli.command(name="library")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
def show_library(paths: tuple[str, ...]) -> None:
    """List the pathways and calendars of a library, with the size of each machine."""
    library = load(paths or [str(DEFAULT_LIBRARY)])
    click.echo(f"{'pathway':28} {'v':>2}  {'modality':15} {'steps':>5} {'states':>6} {'moves':>5}")
    for key in sorted(library.pathways):
        pathway = library.pathways[key]
        machine = compile_pathway(pathway)
        click.echo(
            f"{pathway.id:28} {pathway.version:>2}  {pathway.modality:15} "
            f"{len(list(pathway.walk())):>5} {len(machine.states):>6} "
            f"{len(machine.transitions):>5}  {pathway.title}"
        )
    for calendar in sorted(library.calendars.values(), key=lambda c: c.id):
        slots = ", ".join(sorted(calendar.slots)) or "no slots"
        click.echo(f"calendar {calendar.id}: {calendar.timezone}, {slots}")
    sys.exit(_report(library))


def _assignments(pairs: tuple[str, ...], what: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"'{pair}' is not NAME=VALUE", param_hint=what)
        node = parse(text) if text.strip() else None
        values[name] = node.value if isinstance(node, Scalar) else text
    return values


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="A pathway parameter (repeatable).",
)
@click.option(
    "--patient",
    "patient",
    multiple=True,
    metavar="NAME=VALUE",
    help="A patient attribute (repeatable).",
)
@click.option(
    "--start",
    "start_date",
    type=click.DateTime(["%Y-%m-%d"]),
    help="First day, in clinic time (default: today); the day starts at 08:00.",
)
@click.option(
    "--scenario",
    type=click.Path(exists=True, dir_okay=False),
    help="YAML file scripting results, adverse events, delays and decisions.",
)
@click.option("--gantt", type=click.Path(dir_okay=False), help="Also draw a chart (.svg/.png).")
@_library_option
def simulate(
    file: str,
    params: tuple[str, ...],
    patient: tuple[str, ...],
    start_date: datetime | None,
    scenario: str | None,
    gantt: str | None,
    library_dir: str | None,
) -> None:
    """Run a pathway to its end in simulated time and print the dated timeline."""
    if gantt and Path(gantt).suffix.lower() not in (".svg", ".png"):
        raise click.BadParameter("the chart is written as .svg or .png", param_hint="--gantt")
    library = load([file], _context(library_dir))
    pathways = [p for p in library.pathways.values() if p.file == file]
    if library.report() or not pathways:
        sys.exit(_report(library) or 1)
    definition = load_definition(library, pathways[0].id, pathways[0].version)
    zone = definition.calendar.zone
    try:
        script = scenario_from(_scenario_file(scenario)) if scenario else Scenario()
        fields = definition.pathway
        script = replace(
            script,
            parameters={
                **script.parameters,
                **_typed(_assignments(params, "--param"), fields.parameters),
            },
            patient={
                **script.patient,
                **_typed(_assignments(patient, "--patient"), fields.patient),
            },
        )
        day = start_date.date() if start_date else datetime.now(zone).date()
        begin = datetime.combine(day, time(8, 0), zone)
        timeline = run_simulation(definition, begin, script)
    except (ScenarioError, EventRejected) as error:
        click.echo(f"{file}: cannot simulate: {error}", err=True)
        sys.exit(1)
    click.echo(render_timeline(timeline, zone))
    if gantt:
        Path(gantt).parent.mkdir(parents=True, exist_ok=True)
        draw(timeline, definition.pathway.title, Path(gantt), zone)
        click.echo(f"chart written to {gantt}", err=True)


def _typed(values: dict[str, Any], fields: Mapping[str, Field]) -> dict[str, Any]:
    """`--patient bilsky_grade=3` means the text '3' when the attribute is a string."""
    return {
        name: str(value) if name in fields and fields[name].type == "string" else value
        for name, value in values.items()
    }


def _scenario_file(path: str) -> dict[str, Any]:
    try:
        node = parse(Path(path).read_text(encoding="utf-8"))
    except YamlSyntaxError as error:
        raise ScenarioError(
            f"{path}:{error.span.line}:{error.span.column}: {error.message}"
        ) from None
    data = to_plain(node)
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: a scenario is a mapping of keys")
    return data


def main() -> None:
    """Entry point of the console script."""
    cli()
