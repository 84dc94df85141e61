"""Published definitions: validated on the way in, immutable, compiled on the way out."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

from sqlmodel import Session, select

from pathways.library import Library, add_text, check_library, definition_files
from pathways.model import Calendar, Pathway
from pathways.problems import Problem
from pathways.runtime.definition import Definition, load_definition
from pathways.store.checking import checked, label
from pathways.store.effects import audit
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


def published_text(session: Session, text: str) -> PathwayDefinition | None:
    """The definition published with exactly this text, if any."""
    return session.exec(
        select(PathwayDefinition).where(PathwayDefinition.content_hash == content_hash(text))
    ).first()


def publish(
    session: Session, text: str, actor: str, now: datetime, name: str = "posted.yaml"
) -> PathwayDefinition:
    """Validate a definition against what is published and store it, audited (same text:
    the definition already published, and nothing written)."""
    digest = content_hash(text)
    known = published_text(session, text)
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
    detail = {"kind": row.kind, "pathway": row.pathway, "version": row.version}
    audit(
        session, actor, "definition_published", "pathway_definition", str(row.id), now, None, detail
    )
    return row


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
    waiting: dict[Path, list[Problem]] = {}
    while pending:
        progress = []
        for path in pending:
            try:
                published.append(
                    publish(session, path.read_text(encoding="utf-8"), actor, now, str(path))
                )
                progress.append(path)
            except DefinitionRejected as rejected:
                if not any(_callee_missing(p) for p in rejected.problems):
                    raise
                waiting[path] = rejected.problems
        if not progress:
            first = pending[0]
            raise DefinitionRejected(f"{first}: its sub-pathways are missing", waiting[first])
        pending = [path for path in pending if path not in progress]
    return published


def _callee_missing(problem: Problem) -> bool:
    """A call to a pathway, or to a version of one, that may be further on in the folder: a
    new version of a plan calls the new versions of its sub-pathways, published in the same
    run (on a database that holds the old ones, the callee is known but not that version)."""
    return "call to unknown pathway" in problem.message or (
        problem.message.startswith("pathway '") and " has no version " in problem.message
    )


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
            add_text(library, row.content, label(row))
    return library


# Compiled once per process: published definitions never change, so (database, row id,
# pathway, version) names one for good and an applied event reads no definition row.
_COMPILED: dict[tuple[str, int, str, int], Definition] = {}


def pinned(session: Session, enrollment: Enrollment) -> Definition:
    """The runnable definition an enrollment is pinned to (cached: no query once compiled)."""
    key = _key(session, enrollment.definition_id, enrollment.pathway, enrollment.pathway_version)
    if key not in _COMPILED:
        row = session.get(PathwayDefinition, enrollment.definition_id)
        assert row is not None, f"enrollment {enrollment.id} lost its definition"
        return compiled(session, row)
    return _COMPILED[key]


def forget_compiled() -> None:
    """Drop the compiled definitions (for a database emptied and reused, as in tests)."""
    _COMPILED.clear()


def _key(session: Session, row_id: int, pathway: str, version: int) -> tuple[str, int, str, int]:
    return (str(session.get_bind().engine.url), row_id, pathway, version)


def compiled(session: Session, row: PathwayDefinition) -> Definition:
    """The runnable definition; sub-pathways resolve as they were when it was published."""
    assert row.id is not None
    key = _key(session, row.id, row.pathway, row.version)
    if key not in _COMPILED:
        library = _library(session, until=row.id)
        check_library(library)
        _COMPILED[key] = load_definition(library, row.pathway, row.version)
    return _COMPILED[key]
