"""Errors as RFC 9457 problem details (application/problem+json), each with an actionable detail."""

from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

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
    409: "Conflict",
    422: "Unprocessable content",
    503: "Unavailable",
}


def problem(status: int, detail: str, request: Request, **extra: Any) -> JSONResponse:
    """A problem+json response."""
    body = {
        "type": "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        **extra,
    }
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def install(app: FastAPI) -> None:
    """Turn every error the API can meet into a problem response (never a bare 500 for input)."""

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        return problem(error.status_code, str(error.detail), request)

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
