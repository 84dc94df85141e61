"""The guard every request passes first: bounded bodies, strict JSON, clean paths and queries,
and a problem (never a stack trace) when something unexpected breaks.

A pure ASGI middleware: the body is counted while it is read, so an oversized one is refused
without being buffered, and the body the app sees is the one already checked.
"""

from __future__ import annotations

import logging
import os
import re
from email.message import Message
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as AsgiMessage

from api.problems import problem
from api.strict_json import LARGEST_INTEGER, SMALLEST_INTEGER, BodyRefused, read_json, text_problem

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
_NUMBER = re.compile(r"-?\d+")
_WITHOUT_BODY = frozenset({"GET", "HEAD", "OPTIONS"})
log = logging.getLogger("carepath.api")


def max_body_bytes() -> int:
    """CAREPATH_MAX_BODY_BYTES, or 1 MiB when unset."""
    text = os.environ.get("CAREPATH_MAX_BODY_BYTES", "").strip()
    if not text:
        return DEFAULT_MAX_BODY_BYTES
    if not text.isdigit() or int(text) < 1024:
        raise ValueError(f"CAREPATH_MAX_BODY_BYTES must be a number of bytes >= 1024, not {text!r}")
    return int(text)


class _Refused(Exception):
    def __init__(self, status: int, detail: str, field: str) -> None:
        super().__init__(detail)
        self.status, self.detail, self.field = status, detail, field


class RequestGuard:
    """Refuses what no route can take with a problem, and turns a crash into a 500 problem."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            _check_address(scope)
            if scope["method"] not in _WITHOUT_BODY:
                body = await self._read(scope, receive)
                if body and _is_json(scope):
                    read_json(body)
                receive = _replay(body, receive)
        except BodyRefused as error:
            await self._answer(scope, receive, send, error.status, error.field, error.message)
            return
        except _Refused as error:
            await self._answer(scope, receive, send, error.status, error.field, error.detail)
            return
        started = False

        async def watched(message: AsgiMessage) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as error:
            # Ids and the exception's type only: its message may carry a patient's data.
            log.error(
                "unexpected %s answering %s %s",
                type(error).__name__,
                scope["method"],
                getattr(scope.get("route"), "path", "an unmatched path"),  # the template
            )
            if started:
                raise
            await problem(
                500,
                "the server met an unexpected error; nothing more is shown here, "
                "and the operators have it in their log",
                Request(scope),
            )(scope, receive, send)

    async def _read(self, scope: Scope, receive: Receive) -> bytes:
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            raise _Refused(413, self._too_large(), "body")
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:  # stop reading: never hold more than the limit
                raise _Refused(413, self._too_large(), "body")
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)

    def _too_large(self) -> str:
        return (
            f"the body is larger than {self.max_body_bytes} bytes "
            "(CAREPATH_MAX_BODY_BYTES): send less"
        )

    async def _answer(
        self, scope: Scope, receive: Receive, send: Send, status: int, field: str, detail: str
    ) -> None:
        response = problem(status, f"{field}: {detail}", Request(scope), field=field)
        await response(scope, receive, send)


def _check_address(scope: Scope) -> None:
    """No NUL in the path or the query, and numbers in the path within 64 bits.

    Query numbers are left to each route's bounds: a query may search for a long digit string
    (an MRN), which is text, not a number."""
    path: str = scope["path"]
    for segment in path.split("/"):
        what = f"path segment '{_printable(segment)}'"
        _check_text(segment, "path", what)
        _check_number(segment, "path", what)
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        _check_text(name, f"query.{_printable(name)}", "query parameter name")
        _check_text(value, f"query.{_printable(name)}", f"query parameter '{_printable(name)}'")


def _check_text(text: str, field: str, what: str) -> None:
    problem_text = text_problem(text)
    if problem_text:
        raise _Refused(422, f"the {what} {problem_text}", field)


def _check_number(text: str, field: str, what: str) -> None:
    if _NUMBER.fullmatch(text) and not (
        len(text) <= 20 and SMALLEST_INTEGER <= int(text) <= LARGEST_INTEGER
    ):
        raise _Refused(
            422,
            f"the {what} is out of range: numbers must be from {SMALLEST_INTEGER} "
            f"to {LARGEST_INTEGER} (64 bits)",
            field,
        )


def _printable(text: str) -> str:
    shown = text.encode("unicode_escape").decode("ascii") if text_problem(text) else text
    return shown if len(shown) <= 60 else f"{shown[:60]}..."


def _is_json(scope: Scope) -> bool:
    # As FastAPI decides: no content type, application/json or application/*+json.
    raw = dict(scope["headers"]).get(b"content-type", b"").decode("latin-1")
    if not raw:
        return True
    parsed = Message()
    parsed["content-type"] = raw
    subtype = parsed.get_content_subtype()
    return parsed.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the app the body already read, then the client's own messages."""
    sent = False

    async def replayed() -> Any:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed
