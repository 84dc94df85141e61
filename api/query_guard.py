"""Unknown query parameters are refused (422), not ignored.

A misspelt filter (`?stauts=active`) used to answer the unfiltered list, which a caller
reads as "these are the active ones". A route's query parameters are those its OpenAPI
operation declares, so the check and the published contract cannot disagree; a route left
out of the schema (the dashboard's page) is not checked.
"""

from __future__ import annotations

from fastapi import FastAPI, HTTPException, Request
from fastapi.routing import APIRoute

Declared = dict[tuple[str, str], frozenset[str]]  # (path template, method) -> query names


async def refuse_unknown_query(request: Request) -> None:
    """422 naming each query parameter the operation does not take, and those it does."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    taken = _declared(request.app).get((route.path, request.method.lower()))
    if taken is None:
        return
    unknown = sorted(set(request.query_params) - taken)
    if unknown:
        names = ", ".join(f"'{name}'" for name in unknown)
        raise HTTPException(
            422,
            f"unknown query parameter {names} for {request.method} {route.path}: it takes "
            + (", ".join(sorted(taken)) or "none"),
        )


def _declared(app: FastAPI) -> Declared:
    """Read from the app's OpenAPI document once, then kept on the app."""
    found: Declared | None = getattr(app.state, "query_parameters", None)
    if found is None:
        found = {
            (path, method): frozenset(
                parameter["name"]
                for parameter in operation.get("parameters", [])
                if parameter.get("in") == "query"
            )
            for path, operations in app.openapi().get("paths", {}).items()
            for method, operation in operations.items()
        }
        app.state.query_parameters = found
    return found
