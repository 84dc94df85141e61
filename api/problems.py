"""Errors as RFC 9457 problem details (application/problem+json), each with an actionable detail."""

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pathways.runtime.admission import EnrollmentEnded
from pathways.runtime.events import EventRejected
from pathways.store.definitions import DefinitionRejected
from pathways.store.enrollments import NotFound
from pathways.store.staff_tasks import TaskConflict

MEDIA_TYPE = "application/problem+json"
TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    422: "Unprocessable content",
    500: "Internal server error",
    503: "Unavailable",
}

# The body `problem` below writes, as JSON Schema: what /openapi.json promises for every error.
# `type` is always about:blank (the status and its title say what kind of problem it is);
# members beyond RFC 9457's are present only for the errors that carry them.
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An error, as RFC 9457 problem details: `detail` says what to fix.",
    "type": "object",
    "required": ["type", "title", "status", "detail", "instance"],
    "properties": {
        "type": {"type": "string", "const": "about:blank"},
        "title": {"type": "string", "examples": ["Not found"]},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "examples": ["no enrollment 3f2a..."]},
        "instance": {"type": "string", "description": "the path asked for"},
        "errors": {
            "description": "each field refused (a request that does not validate, 422)",
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
        "field": {
            "description": "the part of the request refused before any route read it "
            "(body, path, query.NAME)",
            "type": "string",
        },
        "problems": {
            "description": "each problem of a pathway definition refused (422)",
            "type": "array",
            "items": {
                "type": "object",
                "required": ["line", "column", "where", "message", "hint"],
                "properties": {
                    "line": {"type": "integer"},
                    "column": {"type": "integer"},
                    "where": {"type": "string"},
                    "message": {"type": "string"},
                    "hint": {"type": "string"},
                },
            },
        },
    },
}


def problem(
    status: int,
    detail: str,
    request: Request,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json response."""
    body = {
        "type": "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        **extra,
    }
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def install(app: FastAPI) -> None:
    """Turn every error the API can meet into a problem response (never a bare 500 for input)."""

    @app.exception_handler(StarletteHTTPException)  # FastAPI's own, and the router's 404/405
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        detail = str(error.detail)
        if error.status_code == 404 and detail == "Not Found":
            detail = f"no such path {request.url.path}: see /docs for the API's paths"
        elif error.status_code == 405:
            allowed = (error.headers or {}).get("Allow", "")
            detail = f"{request.method} is not allowed here: use {allowed or 'another method'}"
        return problem(error.status_code, detail, request, error.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": ".".join(str(part) for part in item["loc"]), "message": item["msg"]}
            for item in error.errors()
        ]
        first = errors[0] if errors else {"field": "request", "message": "is not valid"}
        return problem(422, f"{first['field']}: {first['message']}", request, errors=errors)

    @app.exception_handler(NotFound)
    async def missing(request: Request, error: NotFound) -> JSONResponse:
        return problem(404, str(error), request)

    @app.exception_handler(TaskConflict)
    async def conflict(request: Request, error: TaskConflict) -> JSONResponse:
        return problem(409, str(error), request)

    @app.exception_handler(EnrollmentEnded)  # before EventRejected, its base: a conflict
    async def ended(request: Request, error: EnrollmentEnded) -> JSONResponse:
        return problem(409, error.reason, request)

    @app.exception_handler(EventRejected)
    async def rejected(request: Request, error: EventRejected) -> JSONResponse:
        return problem(422, error.reason, request)

    @app.exception_handler(DefinitionRejected)
    async def definition(request: Request, error: DefinitionRejected) -> JSONResponse:
        problems = [
            {
                "line": p.line,
                "column": p.column,
                "where": p.where,
                "message": p.message,
                "hint": p.hint,
            }
            for p in error.problems
        ]
        return problem(422, error.message, request, problems=problems)
