"""`python -m bench [--full] [--only NAME,...] [--json]`: run the suite, print the table,
write the doc.

With --json the rows (name, median, min, max, unit, target, met) are the only thing printed
on stdout, as one JSON array, so other tools can read the figures; progress goes to stderr
and the doc is left as it was. Each module named in SUITE exposes
`run(quick: bool) -> list[Section]`. The results replace the part of docs/benchmarks.md
between the two markers; the analysis around them is kept. With --only, only the sections
run are replaced (each stamped as a partial re-run); the others keep their own figures.
"""

import argparse
import importlib
import json
import os
import platform
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from datetime import UTC, datetime
from pathlib import Path

from bench.results import Section, fmt, json_rows

SUITE = ("core", "persisted", "end_to_end", "polling", "scaling")
DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"


def machine() -> str:
    """The machine the figures come from, in one line."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}"
    )


def merged(sections: list[Section]) -> list[Section]:
    """Sections in title order, rows and targets of equal titles together (memory)."""
    by_title: dict[str, Section] = {}
    for section in sections:
        found = by_title.setdefault(section.title, Section(section.title, section.setup))
        if section.setup not in found.setup:
            found.setup = f"{found.setup} {section.setup}"
        found.rows.extend(section.rows)
        found.targets.extend(section.targets)
    return sorted(by_title.values(), key=lambda section: section.title)


def markdown(sections: list[Section], mode: str, seconds: float) -> str:
    """The results as Markdown tables."""
    lines = [f"Run `{mode}` on {_stamp()}, {seconds / 60:.1f} min; machine: {machine()}.", ""]
    for section in sections:
        lines += _section_markdown(section)
    return "\n".join(lines)


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _section_markdown(
    section: Section, rerun: str = "", kept: list[str] | None = None
) -> list[str]:
    lines = [f"### {section.title}", ""]
    if rerun:
        lines += [rerun, ""]
    lines += [section.setup, ""]
    lines += ["| measurement | median | spread (min-max) | runs | unit | note |"]
    lines += ["|---|---:|---:|---:|---|---|"]
    for row in section.rows:
        lines.append(
            f"| {row.name} | {fmt(row.median)} | {row.spread} | {len(row.samples)} "
            f"| {row.unit} | {row.note} |"
        )
    lines += kept or []
    if section.targets:
        lines += ["", "| target | this run | met |", "|---|---:|:---:|"]
        for target in section.targets:
            lines.append(
                f"| {target.goal} | {target.achieved} | {'yes' if target.met else '**no**'} |"
            )
    lines.append("")
    return lines


def plain(sections: list[Section]) -> str:
    """The results as a table for the terminal."""
    out = []
    for section in sections:
        out.append(f"\n{section.title}\n{'-' * len(section.title)}")
        for row in section.rows:
            out.append(
                f"  {row.name:<58} {fmt(row.median):>12} {row.unit:<12} "
                f"{row.spread:>20} n={len(row.samples)}"
            )
        for target in section.targets:
            mark = "met   " if target.met else "MISSED"
            out.append(f"  [{mark}] {target.goal}: {target.achieved}")
    return "\n".join(out)


def write_sections(sections: list[Section], mode: str, names: list[str], seconds: float) -> None:
    """Replace only these sections' tables between the markers (matched by their number),
    each stamped as a partial run; the other sections keep the figures of their own run."""
    current = DOC.read_text()
    if START not in current or END not in current:
        raise SystemExit(f"{DOC} lacks the markers {START} and {END}: put them back")
    head, rest = current.split(START, 1)
    block, tail = rest.split(END, 1)
    rerun = (
        f"Re-run alone (`{mode} --only {','.join(names)}`) on {_stamp()}, "
        f"{seconds / 60:.1f} min for the part; machine: {machine()}."
    )
    for section in sections:
        block = _replace_section(block, section, rerun)
    DOC.write_text(f"{head}{START}{block}{END}{tail}")


def _replace_section(block: str, section: Section, rerun: str) -> str:
    number = section.title.split(" ", 1)[0]  # "2." of "2. Persisted: ..."
    parts = block.split("\n### ")
    for index, part in enumerate(parts[1:], start=1):
        if part.startswith(number + " "):
            text = "\n".join(_section_markdown(section, rerun, _kept(part, section)))
            parts[index] = text.removeprefix("### ")
            return "\n### ".join(parts)
    text = "\n".join(_section_markdown(section, rerun))
    return block.rstrip("\n") + "\n\n" + text + "\n"


def _kept(old: str, section: Section) -> list[str]:
    """Rows of the old section that this run did not measure (a section several modules
    fill, such as memory): kept as they were, from their own run."""
    measured = {row.name for row in section.rows}
    rows = [line for line in old.splitlines() if line.startswith("| ")]
    return [
        line
        for line in rows
        if line.split("|")[1].strip() not in measured | {"measurement", "target"}
        and line.count("|") == 7  # the measurement table's rows, not the targets'
    ]


def write_doc(text: str) -> None:
    """Replace the results between the markers, keeping the analysis around them."""
    current = DOC.read_text() if DOC.exists() else f"# Benchmarks\n\n{START}\n{END}\n"
    if START not in current or END not in current:
        raise SystemExit(f"{DOC} lacks the markers {START} and {END}: put them back")
    head, rest = current.split(START, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{START}\n{text}\n{END}{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--full", action="store_true", help="full sizes (default: quick)")
    parser.add_argument("--only", default=",".join(SUITE), help="comma-separated modules")
    parser.add_argument("--no-write", action="store_true", help="print only; keep the doc")
    parser.add_argument(
        "--json", action="store_true", help="print the rows as JSON only; keep the doc"
    )
    args = parser.parse_args()
    names = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(names) - set(SUITE))
    if unknown:
        parser.error(f"unknown module(s) {', '.join(unknown)}; choose from {', '.join(SUITE)}")
    started = time.monotonic()
    if args.json:
        with stdout_to_stderr():
            sections = run_sections(names, args.full)
        print(json.dumps(json_rows(merged(sections)), indent=2))
        sys.stdout.flush()
        return
    sections = run_sections(names, args.full)
    seconds = time.monotonic() - started
    results = merged(sections)
    print(plain(results))
    mode = "make bench-full" if args.full else "make bench"
    if not args.no_write and names == list(SUITE):
        write_doc(markdown(results, mode, seconds))
        print(f"\nwrote {DOC.relative_to(Path.cwd()) if DOC.is_relative_to(Path.cwd()) else DOC}")
    elif not args.no_write:
        write_sections(results, mode, names, seconds)
        print(f"\nwrote the tables of {', '.join(names)} in {DOC.name}; the others kept theirs")
    sys.stdout.flush()


def run_sections(names: list[str], full: bool) -> list[Section]:
    """Run the named modules in order; their sections."""
    sections: list[Section] = []
    for name in names:
        print(f"running bench.{name} ({'full' if full else 'quick'})...", flush=True)
        module = importlib.import_module(f"bench.{name}")
        sections += module.run(quick=not full)
    return sections


@contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send everything written to stdout (by us, the sections, and the servers they start,
    which inherit file descriptor 1) to stderr, so stdout carries the JSON alone."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


if __name__ == "__main__":
    main()
