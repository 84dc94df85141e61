"""The answer to a recorded event (202): its id, and whether this request stored it."""

from __future__ import annotations

from pydantic import BaseModel

from pathways.service.commands import Accepted


class EventAccepted(BaseModel):
    """The stored event's id, and whether this request created it (a retry did not)."""

    event: int
    created: bool

    @classmethod
    def of(cls, accepted: Accepted) -> EventAccepted:
        """The answer for what the handler stored (and enqueued, after its commit)."""
        return cls(event=accepted.event_id, created=accepted.created)
