"""Dependencies for routes: the database session, the caller, permission checks, patient view."""

from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine
from sqlmodel import Session

from api.credentials import RecentTokens
from api.oidc import bearer_principal, looks_like_jwt
from api.read_audit import PatientView
from api.security import Permission, Principal, TokenRefused, principal
from pathways.service.bus import Service
from pathways.store.database import reading

# Dependencies that do no I/O are `async def`: FastAPI runs them on the event loop, with no
# thread hop. Those that query the database stay plain `def` (run in the thread pool).


async def engine(request: Request) -> Engine:
    """The app's database engine."""
    found: Engine = request.app.state.engine
    return found


def session(request: Request) -> Iterator[Session]:
    """A read session for one request (it never holds a write lock)."""
    with Session(reading(request.app.state.engine)) as opened:
        yield opened


SessionDep = Annotated[Session, Depends(session)]
EngineDep = Annotated[Engine, Depends(engine)]
MISSING = (
    "send 'Authorization: Bearer TOKEN' with a valid token "
    "(carepath token create --role ROLE issues one)"
)


async def caller(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    """The authenticated caller; 401 without a valid credential, 403 for a role not known.

    A token accepted in the last few seconds is not looked up again (api/credentials.py)."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, MISSING)
    state = request.app.state
    if state.oidc and looks_like_jwt(token):  # the hospital's sign-in
        return await run_in_threadpool(bearer_principal, state.oidc, token)
    at = _clock(request)
    recent: RecentTokens = state.credentials
    found = recent.recall(token, at)
    if found is None:
        found = await run_in_threadpool(_looked_up, request, token, at)
        recent.keep(token, found)
    return found


def _looked_up(request: Request, token: str, at: datetime) -> Principal:
    """The caller a token stands for, from the token table."""
    with Session(reading(request.app.state.engine)) as db:
        try:
            found = principal(db, token, request.app.state.admin_token, at)
        except TokenRefused as refused:
            raise HTTPException(refused.status, refused.detail) from None
    if found is None:
        raise HTTPException(401, MISSING)
    return found


CallerDep = Annotated[Principal, Depends(caller)]


def require(permission: Permission) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency admitting callers whose role has `permission` (403 otherwise)."""

    async def check(who: CallerDep) -> Principal:
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


async def patient_view(request: Request, db: SessionDep, who: CallerDep) -> PatientView:
    """Which patients the caller may see; those a 200 shows are audited (api/read_audit.py)."""
    return PatientView(request, db, who)


PatientViewDep = Annotated[PatientView, Depends(patient_view)]


async def now(request: Request) -> datetime:
    """The time now, from the service's clock: the one clock of the whole app."""
    return _clock(request)


def _clock(request: Request) -> datetime:
    return request.app.state.service.clock()  # type: ignore[no-any-return]


NowDep = Annotated[datetime, Depends(now)]


async def service(request: Request) -> Service:
    """The write side: every write a route makes is a command this service handles."""
    found: Service = request.app.state.service
    return found


ServiceDep = Annotated[Service, Depends(service)]


async def administrator(request: Request, who: CallerDep) -> Principal:
    """The admin role only (403 otherwise): operations on the system itself."""
    if who.role != "admin":
        raise HTTPException(
            403, f"the {who.role} role may not {request.method} {request.url.path} (admin only)"
        )
    return who


Administrator = Annotated[Principal, Depends(administrator)]
