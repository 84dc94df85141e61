"""A set of definition files read together: pathways by (id, version), calendars by id."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pathways.expressions import Expression, ExpressionError
from pathways.limits import LIMITS, MAX_DOCUMENT_BYTES
from pathways.model import MISSING, Calendar, Call, Pathway, Wait
from pathways.problems import Problem, Problems, Span, did_you_mean
from pathways.reading.documents import Document, read_document
from pathways.reading.fields import check_value
from pathways.scope import build_scopes
from pathways.typecheck import check
from pathways.validator import check_pathway

SUFFIXES = (".yaml", ".yml")


@dataclass
class Library:
    """Every pathway version and calendar read, and the problems of each file."""

    pathways: dict[tuple[str, int], Pathway] = field(default_factory=dict)
    calendars: dict[str, Calendar] = field(default_factory=dict)
    problems: dict[str, Problems] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    # Ids published but not read (checking reads only what a definition refers to): hints only.
    other_pathways: set[str] = field(default_factory=set)
    other_calendars: set[str] = field(default_factory=set)

    def latest(self, pathway_id: str) -> Pathway | None:
        """The highest version of a pathway."""
        versions = [p for (pid, _), p in self.pathways.items() if pid == pathway_id]
        return max(versions, key=lambda p: p.version) if versions else None

    def get(self, pathway_id: str, version: int | None = None) -> Pathway | None:
        """A given version of a pathway, or its latest."""
        if version is None:
            return self.latest(pathway_id)
        return self.pathways.get((pathway_id, version))

    def versions(self, pathway_id: str) -> list[int]:
        """The versions held of a pathway."""
        return sorted(v for (pid, v) in self.pathways if pid == pathway_id)

    def report(self) -> list[Problem]:
        """Problems of the files checked (not of the context), in file and line order."""
        wanted = set(self.files)
        return sorted(
            problem
            for file, found in self.problems.items()
            if file in wanted
            for problem in found.found
        )


def definition_files(paths: Iterable[str | Path]) -> list[Path]:
    """YAML files named, and those found under folders named, in a stable order."""
    found: dict[Path, Path] = {}
    for path in map(Path, paths):
        candidates = (
            sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES)
            if (path.is_dir())
            else [path]
        )
        for candidate in candidates:
            found.setdefault(candidate.resolve(), candidate)
    return list(found.values())


def load(paths: Iterable[str | Path], context: Iterable[str | Path] = ()) -> Library:
    """Read and check the files under `paths`; `context` only resolves calls and calendars."""
    library = Library()
    given = definition_files(paths)
    for path in given:
        _read_file(library, path)
    library.files = [str(path) for path in given]
    checked = {path.resolve() for path in given}
    extra = Library()
    for path in definition_files(context):
        if path.resolve() not in checked:
            _read_file(extra, path)
    for key, pathway in extra.pathways.items():
        library.pathways.setdefault(key, pathway)
    for name, calendar in extra.calendars.items():
        library.calendars.setdefault(name, calendar)
    check_library(library)
    return library


def _read_file(library: Library, path: Path) -> None:
    file = str(path)
    problems = library.problems.setdefault(file, Problems(file))
    try:
        if path.stat().st_size > MAX_DOCUMENT_BYTES:  # refused before it is read into memory
            problems.add(
                Span(1, 1),
                LIMITS,
                f"the file is {path.stat().st_size:,} bytes; the limit is {MAX_DOCUMENT_BYTES:,}",
                "split the pathway into sub-pathways (call:)",
                over_limit=True,
            )
            return
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        problems.add(Span(1, 1), "(file)", f"cannot read the file: {error}")
        return
    add_text(library, text, file)


def add_text(library: Library, text: str, file: str) -> None:
    """Read one document into the library (checks across files come later)."""
    problems = library.problems.setdefault(file, Problems(file))
    add_document(library, read_document(text, file, problems), problems)


def add_document(library: Library, document: Document | None, problems: Problems) -> None:
    """Check a document read on its own and add it (checks across files come later)."""
    library.problems.setdefault(problems.file, problems)
    if any(problem.where == LIMITS for problem in problems.found):
        return  # too big to check within bounded time: the refusal says it all
    if isinstance(document, Calendar):
        if document.id in library.calendars:
            problems.add(
                Span(1, 1),
                "(calendar)",
                f"calendar '{document.id}' is also defined in "
                f"{library.calendars[document.id].file}",
            )
        library.calendars[document.id] = document
    elif isinstance(document, Pathway):
        check_pathway(document, problems)
        if document.key in library.pathways:
            other = library.pathways[document.key]
            problems.add(
                document.spans.get("version", Span(1, 1)),
                "(pathway)",
                f"pathway '{document.id}' version {document.version} is also "
                f"defined in {other.file}",
                "a published version never changes: give this one a new version",
            )
        else:
            library.pathways[document.key] = document


def check_library(library: Library) -> None:
    """Checks that need the whole library: calendars, slots, calls and call cycles."""
    for pathway in library.pathways.values():
        problems = library.problems.setdefault(pathway.file, Problems(pathway.file))
        calendar = library.calendars.get(pathway.calendar)
        if calendar is None:
            problems.add(
                pathway.spans.get("calendar", Span(1, 1)),
                "(pathway)",
                f"unknown calendar '{pathway.calendar}'",
                did_you_mean(pathway.calendar, set(library.calendars) | library.other_calendars)
                + " (calendars are files with a top-level 'calendar' key)",
            )
        for step in pathway.walk():
            if (
                isinstance(step, Wait)
                and step.until
                and calendar is not None
                and (step.until not in calendar.slots)
            ):
                problems.add(
                    step.spans["wait"],
                    step.id,
                    f"calendar '{calendar.id}' has no slot '{step.until}'",
                    did_you_mean(step.until, set(calendar.slots)),
                )
            if isinstance(step, Call):
                _check_call(library, pathway, step, problems)
    _check_call_cycles(library)


def _check_call(library: Library, caller: Pathway, step: Call, problems: Problems) -> None:
    span = step.spans.get("call", step.span)
    if not step.pathway:
        return
    callee = library.get(step.pathway, step.version)
    if callee is None:
        versions = library.versions(step.pathway)
        if versions:
            problems.add(
                step.spans.get("version", span),
                step.id,
                f"pathway '{step.pathway}' has no version {step.version}",
                "versions held: " + ", ".join(map(str, versions)),
            )
        else:
            problems.add(
                span,
                step.id,
                f"call to unknown pathway '{step.pathway}'",
                did_you_mean(
                    step.pathway, {pid for pid, _ in library.pathways} | library.other_pathways
                ),
            )
        return
    _check_patient(caller, callee, step, span, problems)
    names = build_scopes(caller, Problems(caller.file)).at(step.id)
    for name, value in step.arguments.items():
        parameter = callee.parameters.get(name)
        where_span = step.spans.get("with", span)
        if parameter is None:
            problems.add(
                where_span,
                step.id,
                f"pathway '{callee.id}' has no parameter '{name}'",
                did_you_mean(name, set(callee.parameters)),
            )
        elif isinstance(value, Expression) and not value.names:
            literal = value.evaluate({})
            mismatch = check_value(parameter, literal)
            if mismatch:
                problems.add(where_span, step.id, f"with.{name}: {mismatch}")
        elif isinstance(value, Expression):
            try:
                found = check(value, names)
            except ExpressionError as error:
                problems.add(where_span, step.id, f"with.{name}: {error.message}", error.hint)
                continue
            if not _assignable(found, parameter.type):
                problems.add(
                    where_span,
                    step.id,
                    f"with.{name}: '{callee.id}' expects {parameter.type}, "
                    f"the expression gives {found}",
                )
        else:
            mismatch = check_value(parameter, value)
            if mismatch:
                problems.add(where_span, step.id, f"with.{name}: {mismatch}")


def _check_patient(
    caller: Pathway, callee: Pathway, step: Call, span: Span, problems: Problems
) -> None:
    """The callee reads the caller's patient: what it needs must be asked for at enrolment."""
    for name, needed in callee.patient.items():
        declared = caller.patient.get(name)
        if declared is None and needed.default is MISSING:
            problems.add(
                span,
                step.id,
                f"pathway '{callee.id}' needs the patient attribute '{name}', "
                f"which this pathway does not declare",
                f"declare it under 'patient' (type {needed.type}) so it is asked for at enrolment",
            )
        elif declared is not None and declared.type != needed.type:
            problems.add(
                span,
                step.id,
                f"patient attribute '{name}' is {declared.type} here but "
                f"{needed.type} in '{callee.id}'",
            )


def _assignable(found: str, wanted: str) -> bool:
    return found == wanted or (found == "integer" and wanted == "number")


def _check_call_cycles(library: Library) -> None:
    calls: dict[str, list[tuple[Pathway, Call]]] = {}
    for pathway in library.pathways.values():
        for step in pathway.walk():
            if isinstance(step, Call) and library.get(step.pathway, step.version):
                calls.setdefault(pathway.id, []).append((pathway, step))

    def visit(current: str, path: list[str]) -> None:
        for pathway, step in calls.get(current, []):
            if step.pathway in path:
                cycle = [*path[path.index(step.pathway) :], step.pathway]
                if step.pathway == path[0]:
                    library.problems.setdefault(pathway.file, Problems(pathway.file)).add(
                        step.spans.get("call", step.span),
                        step.id,
                        "recursive call: " + " -> ".join(cycle),
                        "a pathway cannot call itself, directly or through others",
                    )
            else:
                visit(step.pathway, [*path, step.pathway])

    for start in sorted(calls):
        visit(start, [start])
