"""Published definitions: validated on the way in, immutable, compiled on the way out."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from sqlmodel import Session, col, select

from pathways.library import Library, add_document, add_text, check_library, definition_files
from pathways.model import Calendar, Call, Pathway
from pathways.problems import Problem, Problems
from pathways.reading.documents import read_document
from pathways.runtime.definition import Definition, load_definition
from pathways.store.tables import Enrollment, PathwayDefinition


class DefinitionRejected(Exception):
    """A definition that cannot be published; `problems` says why."""

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or []


def content_hash(text: str) -> str:
    """The SHA-256 of a definition's text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def publish(
    session: Session, text: str, actor: str, now: datetime, name: str = "posted.yaml"
) -> PathwayDefinition:
    """Validate a definition against what is published and store it (same text: no-op)."""
    digest = content_hash(text)
    known = session.exec(
        select(PathwayDefinition).where(PathwayDefinition.content_hash == digest)
    ).first()
    if known is not None:
        return known
    library = checked(session, text, name)
    problems = library.report()
    document = (
        _document(library, name)
        if not any("is also defined in" in p.message for p in problems)
        else None
    )
    if document is None or problems:
        if any("is also defined in" in p.message for p in problems):
            raise DefinitionRejected(_immutable(text, name), problems)
        raise DefinitionRejected(f"{name} has {len(problems)} problem(s)", problems)
    kind = "calendar" if isinstance(document, Calendar) else "pathway"
    version = document.version if isinstance(document, Pathway) else 1
    row = PathwayDefinition.model_validate(
        {
            "kind": kind,
            "pathway": document.id,
            "version": version,
            "title": document.title,
            "modality": document.modality if isinstance(document, Pathway) else "",
            "content": text,
            "content_hash": digest,
            "published_at": now,
            "published_by": actor,
        }
    )
    session.add(row)
    session.flush()
    return row


def checked(session: Session, text: str, name: str) -> Library:
    """The text checked as publishing would, against only the definitions it refers to.

    Those are the same pathway version or calendar (which may not change), the calendar it
    uses and the pathways it calls, transitively; never the rest of the library, so checking
    does not grow with what is published.
    """
    problems = Problems(name)
    document = read_document(text, name, problems)
    library = Library()
    if document is not None:
        _add_referenced(session, library, document)
        names = session.exec(select(PathwayDefinition.kind, PathwayDefinition.pathway).distinct())
        for kind, published in names:  # ids only, for 'did you mean' hints
            (library.other_calendars if kind == "calendar" else library.other_pathways).add(
                published
            )
    add_document(library, document, problems)
    library.files = [name]
    check_library(library)
    return library


def _add_referenced(session: Session, library: Library, document: Pathway | Calendar) -> None:
    kind = "calendar" if isinstance(document, Calendar) else "pathway"
    same = select(PathwayDefinition).where(
        PathwayDefinition.kind == kind, PathwayDefinition.pathway == document.id
    )
    if isinstance(document, Pathway):
        same = same.where(PathwayDefinition.version == document.version)
    loaded: set[int] = set()
    _add_rows(library, session.exec(same), loaded)
    if not isinstance(document, Pathway):
        return
    calendars, callees, pending = {document.calendar}, set(), [document]
    while pending:
        caller = pending.pop()
        calendars.add(caller.calendar)
        for step in caller.walk():
            if isinstance(step, Call) and step.pathway and step.pathway not in callees:
                callees.add(step.pathway)
                rows = session.exec(
                    select(PathwayDefinition).where(
                        PathwayDefinition.kind == "pathway",
                        PathwayDefinition.pathway == step.pathway,
                    )
                )
                pending.extend(_add_rows(library, rows, loaded))
    rows = session.exec(
        select(PathwayDefinition).where(
            PathwayDefinition.kind == "calendar",
            col(PathwayDefinition.pathway).in_(sorted(calendars)),
        )
    )
    _add_rows(library, rows, loaded)


def _add_rows(
    library: Library, rows: Iterable[PathwayDefinition], loaded: set[int]
) -> list[Pathway]:
    """Read published rows into the library once each; the pathways they hold."""
    added = []
    for row in rows:
        assert row.id is not None
        if row.id in loaded:
            continue
        loaded.add(row.id)
        add_text(library, row.content, _label(row))
        if row.kind == "pathway":
            pathway = library.pathways.get((row.pathway, row.version))
            if pathway is not None:
                added.append(pathway)
    return added


def _label(row: PathwayDefinition) -> str:
    return f"db:{row.kind}:{row.pathway}@{row.version}"


def _immutable(text: str, name: str) -> str:
    alone = Library()
    add_text(alone, text, name)
    for pathway in alone.pathways.values():
        return (
            f"pathway '{pathway.id}' version {pathway.version} is published and cannot "
            f"change: publish it as version {pathway.version + 1}"
        )
    for calendar in alone.calendars.values():
        return f"calendar '{calendar.id}' is published and cannot change"
    return f"{name} repeats a published definition"


def publish_directory(
    session: Session, directory: Path, actor: str, now: datetime
) -> list[PathwayDefinition]:
    """Publish every definition file of a folder, calendars first, callees before callers."""
    files = definition_files([directory])
    pending = sorted(files, key=lambda path: "calendars" not in path.parts)
    published: list[PathwayDefinition] = []
    while pending:
        progress = []
        for path in pending:
            try:
                published.append(
                    publish(session, path.read_text(encoding="utf-8"), actor, now, str(path))
                )
                progress.append(path)
            except DefinitionRejected as rejected:
                if not any("call to unknown pathway" in p.message for p in rejected.problems):
                    raise
        if not progress:
            raise DefinitionRejected(f"{pending[0]}: its sub-pathways are missing")
        pending = [path for path in pending if path not in progress]
    return published


def _document(library: Library, name: str) -> Pathway | Calendar:
    for pathway in library.pathways.values():
        if pathway.file == name:
            return pathway
    for calendar in library.calendars.values():
        if calendar.file == name:
            return calendar
    raise DefinitionRejected(f"{name} holds no pathway or calendar")


def _library(session: Session, until: int | None) -> Library:
    """Every published definition (up to the one with id `until`) read into one library."""
    library = Library()
    query = select(PathwayDefinition).order_by(PathwayDefinition.id)  # type: ignore[arg-type]
    for row in session.exec(query):
        assert row.id is not None
        if until is None or row.kind == "calendar" or row.id <= until:
            add_text(library, row.content, _label(row))
    return library


_COMPILED: dict[tuple[str, int, str], Definition] = {}


def pinned(session: Session, enrollment: Enrollment) -> Definition:
    """The runnable definition an enrollment is pinned to."""
    row = session.get(PathwayDefinition, enrollment.definition_id)
    assert row is not None, f"enrollment {enrollment.id} lost its definition"
    return compiled(session, row)


def compiled(session: Session, row: PathwayDefinition) -> Definition:
    """The runnable definition; sub-pathways resolve as they were when it was published."""
    assert row.id is not None
    key = (str(session.get_bind().engine.url), row.id, row.content_hash)
    if key not in _COMPILED:
        library = _library(session, until=row.id)
        check_library(library)
        _COMPILED[key] = load_definition(library, row.pathway, row.version)
    return _COMPILED[key]
