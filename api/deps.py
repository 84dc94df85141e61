"""Dependencies for routes: the database session, the caller, permission checks, patient view."""

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from sqlalchemy import Engine
from sqlmodel import Session

from api.oidc import bearer_principal, looks_like_jwt
from api.read_audit import PatientView
from api.security import Permission, Principal, TokenRefused, principal
from pathways.service.bus import Service
from pathways.store.database import reading


def engine(request: Request) -> Engine:
    """The app's database engine."""
    found: Engine = request.app.state.engine
    return found


def session(request: Request) -> Iterator[Session]:
    """A read session for one request (it never holds a write lock)."""
    with Session(reading(request.app.state.engine)) as opened:
        yield opened


SessionDep = Annotated[Session, Depends(session)]
EngineDep = Annotated[Engine, Depends(engine)]


def caller(
    request: Request, db: SessionDep, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    """The authenticated caller; 401 without a valid credential, 403 for a role not known."""
    scheme, _, token = (authorization or "").partition(" ")
    if request.app.state.oidc and scheme.lower() == "bearer" and looks_like_jwt(token):
        return bearer_principal(request.app.state.oidc, token)  # the hospital's sign-in
    try:
        found = (
            principal(db, token, request.app.state.admin_token, now(request))
            if (scheme.lower() == "bearer" and token)
            else None
        )
    except TokenRefused as refused:
        raise HTTPException(refused.status, refused.detail) from None
    if found is None:
        raise HTTPException(
            401,
            "send 'Authorization: Bearer TOKEN' with a valid token "
            "(carepath token create --role ROLE issues one)",
        )
    return found


CallerDep = Annotated[Principal, Depends(caller)]


def require(permission: Permission) -> Callable[[Principal], Principal]:
    """A dependency admitting callers whose role has `permission` (403 otherwise)."""

    def check(who: CallerDep) -> Principal:
        if not who.may(permission):
            raise HTTPException(403, f"the {who.role} role may not {permission.value}")
        return who

    return check


Reader = Annotated[Principal, Depends(require(Permission.READ))]
Navigator = Annotated[Principal, Depends(require(Permission.NAVIGATE))]
Worker = Annotated[Principal, Depends(require(Permission.WORK))]
QueueReader = Annotated[Principal, Depends(require(Permission.QUEUE))]
Publisher = Annotated[Principal, Depends(require(Permission.PUBLISH))]
Auditor = Annotated[Principal, Depends(require(Permission.AUDIT))]


def patient_view(request: Request, db: SessionDep, who: CallerDep) -> PatientView:
    """Which patients the caller may see; those a 200 shows are audited (api/read_audit.py)."""
    return PatientView(request, db, who)


PatientViewDep = Annotated[PatientView, Depends(patient_view)]


def now(request: Request) -> datetime:
    """The time now, from the service's clock: the one clock of the whole app."""
    return request.app.state.service.clock()  # type: ignore[no-any-return]


NowDep = Annotated[datetime, Depends(now)]


def service(request: Request) -> Service:
    """The write side: every write a route makes is a command this service handles."""
    found: Service = request.app.state.service
    return found


ServiceDep = Annotated[Service, Depends(service)]


def administrator(request: Request, who: CallerDep) -> Principal:
    """The admin role only (403 otherwise): operations on the system itself."""
    if who.role != "admin":
        raise HTTPException(
            403, f"the {who.role} role may not {request.method} {request.url.path} (admin only)"
        )
    return who


Administrator = Annotated[Principal, Depends(administrator)]
