"""The FastAPI app: routers per resource, problem+json errors, bearer tokens with roles.

Blocking database calls live in plain `def` routes (FastAPI runs them in a thread pool).
"""

from collections.abc import Callable

from fastapi import Depends, FastAPI, HTTPException
from sqlalchemy import Engine, text

from api import docs_ui, etag, openapi, problems, web
from api.credentials import RecentTokens
from api.edge import RequestGuard, max_body_bytes
from api.logs import AccessLog
from api.oidc import IdentityProvider
from api.oidc_settings import OidcConfig
from api.query_guard import refuse_unknown_query
from api.read_audit import ReadAudit
from api.routes import (
    audit,
    auth,
    changes,
    dashboard,
    enrollments,
    history,
    me,
    metrics,
    pathways,
    patients,
    quarantine,
    tasks,
    webhooks,
)
from pathways.service.bus import Service
from pathways.service.context import Clock, system_clock
from pathways.store.settings import settings


def create_app(
    engine: Engine,
    enqueue: Callable[[int], None],
    admin_token: str,
    oidc: OidcConfig | None = None,
    body_limit: int | None = None,
    clock: Clock = system_clock,
    token_cache_seconds: float | None = None,
) -> FastAPI:
    """The app, wired to a database, a way to enqueue events, the admin token, and OIDC.

    `body_limit` is the largest request body in bytes (default CAREPATH_MAX_BODY_BYTES);
    `clock` is what every route and handler reads the time from; `token_cache_seconds` how
    long an accepted token is trusted without a look-up (default
    CAREPATH_TOKEN_CACHE_SECONDS, api/credentials.py)."""
    app = FastAPI(
        title="carepath",
        version="0.1.0",
        description="Care pathways for spinal-cancer treatment",
        dependencies=[Depends(refuse_unknown_query)],  # a misspelt filter is no filter
        docs_url=None,  # api/docs_ui.py serves /docs from the package, not a CDN
        redoc_url=None,  # one vendored viewer is enough: Swagger UI shows the same schema
    )
    openapi.install(app)  # the bearer scheme and every error, as problems, in /openapi.json
    app.state.engine = engine  # reads
    # writes: each a command run by its one handler, on the app's one clock
    app.state.service = Service.on(engine, enqueue=enqueue, clock=clock)
    app.state.admin_token = admin_token
    if token_cache_seconds is None:
        token_cache_seconds = settings().token_cache_seconds
    app.state.credentials = RecentTokens(token_cache_seconds)
    app.state.oidc = IdentityProvider(oidc) if oidc else None
    problems.install(app)
    etag.install(app)
    app.add_middleware(ReadAudit)  # outside the ETags: a 304 showed nothing, so audits nothing
    # Bodies, paths and queries are checked before any route (and before the audit)...
    app.add_middleware(RequestGuard, max_body_bytes=body_limit or max_body_bytes())
    app.add_middleware(AccessLog)  # ...and the access log, outermost, logs what the client got
    for module in (
        me,
        auth,
        pathways,
        patients,
        enrollments,
        history,
        tasks,
        dashboard,
        changes,
        metrics,
        quarantine,
        webhooks,
        audit,
    ):
        app.include_router(module.router)
    web.install(app)
    docs_ui.install(app)

    @app.get("/health", tags=["operations"])
    def health() -> dict[str, str]:
        """Liveness and database reachability (no authentication)."""
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as error:
            raise HTTPException(503, "the database is not reachable") from error
        return {"status": "ok"}

    return app
