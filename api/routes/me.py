"""/me: who a token stands for and what its role may do, so a client offers only that."""

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import CallerDep
from api.security import Permission


class Me(BaseModel):
    """The caller's actor name, role and permissions (and whether they may see patients)."""

    actor: str
    role: str
    permissions: list[Permission]
    sees_patients: bool


router = APIRouter(tags=["session"])


@router.get("/me")
def me(who: CallerDep) -> Me:
    """The signed-in caller; 401 for a token that stands for no one."""
    return Me(
        actor=who.actor,
        role=who.role,
        permissions=[p for p in Permission if who.may(p)],
        sees_patients=who.sees_patients(),
    )
