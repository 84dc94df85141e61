"""The `carepath` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from pathways.diagram import mermaid
from pathways.library import Library, load
from pathways.machine import compile_pathway
from pathways.schema import pathway_schema

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


@click.group()
def cli() -> None:
    """carepath: care pathways for spinal-cancer treatment."""


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


def main() -> None:
    """Entry point of the console script."""
    cli()
