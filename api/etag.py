"""ETags for polling, answered before the work where the route knows what identifies its answer.

Two kinds of validator:

- **From identity** (`validator`, `if_unchanged`, `tag`): a route that knows what its
  answer is made of (an enrollment's id and write `version`, the minute for fields that depend
  on the time, the caller's role) builds the tag from those before loading anything, and
  answers 304 at once when the client already holds it. No row is loaded, no body rendered,
  no patient read audited.
- **From the body** (`ETags`, pure ASGI middleware): any other GET answered 200 in a single
  body gets a weak ETag of that body, and a matching If-None-Match gets 304 instead. A streamed
  body (a file) goes through untouched: the middleware never buffers one. Static files carry
  their own strong ETags (api/web.py).

Every tagged answer says `Cache-Control: no-cache`: keep it, but ask again each time.
"""

import hashlib
from collections.abc import Iterable

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REVALIDATE = "no-cache"
# Part of every identity tag: bump it when a representation changes shape, so no client keeps
# an answer of the old shape.
REPRESENTATION = "2"


def validator(*parts: object) -> str:
    """A weak ETag standing for the parts that make an answer (opaque to clients)."""
    raw = "\x1f".join([REPRESENTATION, *(str(part) for part in parts)])
    return 'W/"' + hashlib.sha256(raw.encode()).hexdigest()[:32] + '"'


def wanted(headers: Headers) -> set[str]:
    """The tags an If-None-Match header names."""
    return {tag.strip() for tag in headers.get("if-none-match", "").split(",") if tag.strip()}


def matches(tag: str, held: Iterable[str]) -> bool:
    """Whether a client holding `held` already has the answer tagged `tag` (weak comparison)."""
    bare = tag.removeprefix("W/")
    return any(h == "*" or h.removeprefix("W/") == bare for h in held)


class NotModified(Exception):
    """The client already holds the answer: 304 with its tag, nothing else done."""

    def __init__(self, tag: str) -> None:
        super().__init__(tag)
        self.tag = tag


def if_unchanged(request: Request, current: str) -> None:
    """Raise NotModified when the client already holds the answer tagged `current`."""
    if matches(current, wanted(request.headers)):
        raise NotModified(current)


def tag(response: Response, current: str) -> None:
    """Put the answer's tag on it (the middleware then leaves the body alone)."""
    response.headers["etag"] = current
    response.headers["cache-control"] = REVALIDATE


def install(app: FastAPI) -> None:
    """Answer NotModified with an empty 304, and tag the other GETs by their bodies."""

    @app.exception_handler(NotModified)
    async def not_modified(_request: Request, unchanged: NotModified) -> Response:
        headers = {"etag": unchanged.tag, "cache-control": REVALIDATE}
        return Response(status_code=304, headers=headers)

    app.add_middleware(ETags)


class ETags:
    """Pure ASGI middleware: a weak ETag for each single-body GET 200 that has none; 304 when
    the client holds it. Streamed bodies and answers already tagged pass straight through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        held = wanted(Headers(scope=scope))
        start: Message | None = None

        async def tagged(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = Headers(raw=message["headers"])
                if message["status"] != 200 or "etag" in headers:
                    await send(message)  # an error, a 304, or tagged by its route or file
                else:
                    start = message  # wait for the body: the tag goes in the headers
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            opening, start = start, None
            if message.get("more_body", False):  # streamed: never buffered, never tagged
                await send(opening)
                await send(message)
                return
            body = message.get("body", b"")
            of_body = 'W/"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            if matches(of_body, held):
                opening = {"type": "http.response.start", "status": 304, "headers": []}
                message = {"type": "http.response.body", "body": b""}
            headers = MutableHeaders(scope=opening)
            headers["etag"] = of_body
            headers["cache-control"] = REVALIDATE
            await send(opening)
            await send(message)

        await self.app(scope, receive, tagged)
