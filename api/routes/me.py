"""/me: who a credential stands for and what its role may do, so a client offers only that."""

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import CallerDep
from api.security import Permission


class Me(BaseModel):
    """The caller's actor name, role (one of the closed set), permissions and token expiry."""

    actor: str
    role: str
    permissions: list[Permission]
    sees_patients: bool  # staff: only patients with an open task of their role
    expires_at: datetime | None  # null: a credential that does not expire by date (admin token)


router = APIRouter(tags=["session"])


@router.get("/me")
def me(who: CallerDep) -> Me:
    """The signed-in caller; 401 for a token that is unknown, expired or revoked."""
    return Me(
        actor=who.actor,
        role=who.role,
        permissions=[p for p in Permission if who.may(p)],
        sees_patients=who.sees_patients(),
        expires_at=who.expires_at,
    )
