"""The API's access log, and the one way the API is served (`carepath up`, `carepath api`).

One line per request: method, path, status, duration. Never the query string (`?mrn=`,
`?text=` carry MRNs and names), and a path parameter's value only when it cannot be PHI:
an id (a UUID or a number), or a value that named something that exists (a 2xx/3xx answer:
a pathway id such as `chemotherapy`). `/patients/<an MRN typed by mistake>` is logged as
`/patients/{patient_id}`.
"""

from __future__ import annotations

import gc
import logging
import re
import time
from typing import TypeVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pathways.store.logs import logging_config

T = TypeVar("T")
access = logging.getLogger("carepath.access")
ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9]{1,19}")
UNMATCHED = "(no route)"


class AccessLog:
    """ASGI middleware writing the access log line of every HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets when the app raises before answering

        async def answering(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, answering)
        finally:
            if access.isEnabledFor(logging.INFO):
                access.info(
                    "%s %s %s %.1fms",
                    scope["method"],
                    logged_path(scope, status),
                    status,
                    (time.perf_counter() - started) * 1000,
                )


def logged_path(scope: Scope, status: int) -> str:
    """The request's path as the access log may show it (see the module docstring)."""
    route = scope.get("route")
    template = getattr(route, "path_format", None)
    if not isinstance(template, str):
        # No route matched: static files and the docs exist and are ours; anything else
        # (a 404, a trailing-slash redirect) is a path someone typed and may hold anything.
        return str(scope["path"]) if 200 <= status < 300 else UNMATCHED
    for name, value in scope.get("path_params", {}).items():
        shown = str(value)
        if ID.fullmatch(shown) or 200 <= status < 400:
            template = template.replace("{" + name + "}", shown)
    return template


def settled(app: T) -> T:
    """`app`, with what start-up made set aside from the garbage collector for the life of
    this serving process: every full collection then walks only what requests made, not the
    whole import-time heap (pauses of about 100 ms at the 99th percentile of polls, bench
    section 4). For processes that serve, never for one that makes many apps (the tests)."""
    gc.collect()
    gc.freeze()
    return app


def serve(
    app: ASGIApp | str, host: str, port: int, level: str = "info", processes: int = 1
) -> None:
    """Serve the API with uvicorn, logging through carepath's set-up (no query strings).

    With `processes` > 1, `app` is the import path of a function making the app
    ("module:function"): each process makes its own. uvicorn[standard] brings uvloop and
    httptools, which uvicorn picks on its own."""
    import uvicorn

    uvicorn.run(
        app if isinstance(app, str) else settled(app),
        host=host,
        port=port,
        log_config=logging_config(level),
        access_log=False,
        factory=isinstance(app, str),
        workers=processes,
    )
