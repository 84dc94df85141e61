"""Handlers that publish pathway versions and calendars: validated, immutable, audited.

The same text again is not an error: it answers the definition already published. A
different text for a published version is refused, with the version to publish instead.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.exc import IntegrityError

from pathways.service.commands import PublishDefinition, Published, PublishLibrary
from pathways.service.context import Context
from pathways.store.definitions import publish, publish_directory, published_text
from pathways.store.tables import PathwayDefinition


def publish_one(command: PublishDefinition, context: Context) -> Published:
    """Publish one definition's text (DefinitionRejected, with its problems, if invalid)."""
    try:
        return _publish_once(command, context)
    except IntegrityError:  # another publisher stored this version first: answer as it is now
        return _publish_once(command, context)


def _publish_once(command: PublishDefinition, context: Context) -> Published:
    with context.unit_of_work() as uow:
        known = published_text(uow.session, command.text)
        if known is not None:
            return Published(known, created=False)
        row = publish(uow.session, command.text, command.actor, context.clock(), command.source)
        uow.commit()
    return Published(row, created=True)


def publish_library(command: PublishLibrary, context: Context) -> list[PathwayDefinition]:
    """Publish files and folders of definitions in one commit (calendars, callees first)."""
    with context.unit_of_work() as uow:
        now = context.clock()
        rows: list[PathwayDefinition] = []
        for path in map(Path, command.paths):
            if path.is_dir():
                rows.extend(publish_directory(uow.session, path, command.actor, now))
            else:
                text = path.read_text(encoding="utf-8")
                rows.append(publish(uow.session, text, command.actor, now, str(path)))
        uow.commit()
    return rows
