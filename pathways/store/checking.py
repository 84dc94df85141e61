"""What a posted definition is checked against: only the published definitions it refers to."""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import Session, col, select

from pathways.library import Library, add_document, add_text, check_library
from pathways.model import Calendar, Call, Pathway
from pathways.problems import Problems
from pathways.reading.documents import read_document
from pathways.store.tables import PathwayDefinition


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
        add_text(library, row.content, label(row))
        if row.kind == "pathway":
            pathway = library.pathways.get((row.pathway, row.version))
            if pathway is not None:
                added.append(pathway)
    return added


def label(row: PathwayDefinition) -> str:
    """The file name problems of a published definition carry."""
    return f"db:{row.kind}:{row.pathway}@{row.version}"
