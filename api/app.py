"""The FastAPI app: routers per resource, problem+json errors, bearer tokens with roles.

Blocking database calls live in plain `def` routes (FastAPI runs them in a thread pool).
"""

from collections.abc import Callable

from fastapi import FastAPI, HTTPException
from sqlalchemy import Engine, text

from api import problems, web
from api.edge import RequestGuard, max_body_bytes
from api.etag import ETagMiddleware
from api.routes import (
    changes,
    dashboard,
    enrollments,
    history,
    me,
    metrics,
    pathways,
    patients,
    tasks,
)


def create_app(
    engine: Engine,
    enqueue: Callable[[int], None],
    admin_token: str,
    body_limit: int | None = None,
) -> FastAPI:
    """The app, wired to a database, a way to enqueue events, and the admin token.

    `body_limit` is the largest request body in bytes (default CAREPATH_MAX_BODY_BYTES)."""
    app = FastAPI(
        title="carepath", version="0.1.0", description="Care pathways for spinal-cancer treatment"
    )
    app.state.engine = engine
    app.state.enqueue = enqueue
    app.state.admin_token = admin_token
    problems.install(app)
    app.add_middleware(ETagMiddleware)
    # Added last, so it runs first: bodies, paths and queries are checked before any route.
    app.add_middleware(RequestGuard, max_body_bytes=body_limit or max_body_bytes())
    for module in (
        me,
        pathways,
        patients,
        enrollments,
        history,
        tasks,
        dashboard,
        changes,
        metrics,
    ):
        app.include_router(module.router)
    web.install(app)

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
