"""/webhooks/dead-letters: the deliveries that used every attempt, for admins only.

Ids, codes and the receiver's error only: never a payload, URL or secret. Retrying, disabling
and removing are operator commands (`carepath webhooks retry|disable|remove`).
"""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import Administrator, SessionDep
from pathways.store.webhook_admin import dead_letters

router = APIRouter(prefix="/webhooks", tags=["operations"])


class DeadLetterOut(BaseModel):
    """A dead delivery: which notification, to which subscription, and why it last failed."""

    delivery_id: int
    subscription_id: int
    message_id: str
    event_type: str
    attempts: int
    last_attempt_at: datetime | None
    last_error: str | None


@router.get("/dead-letters")
def list_dead_letters(
    who: Administrator,
    db: SessionDep,
    subscription: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> list[DeadLetterOut]:
    """Dead webhook deliveries, oldest last attempt first (`carepath webhooks retry` revives)."""
    return [
        DeadLetterOut.model_validate(letter, from_attributes=True)
        for letter in dead_letters(db, subscription)
    ]
