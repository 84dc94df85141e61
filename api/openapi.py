"""The published contract: /openapi.json with the bearer scheme and every error as a problem.

FastAPI writes each operation's parameters and success response from the route. What it
cannot see is added here, in one place, from what the app really does:

- an operation whose dependencies include `api.deps.caller` needs a bearer token: it names
  the `bearer` security scheme and may answer 401 (no valid token) and 403 (a role that may
  not), and 503 when the hospital's sign-in provider is needed to check a JWT but cannot
  be reached; every other operation (/health, sign-in) names no scheme (`security: []`). Such an
  operation is known by the Authorization header parameter FastAPI derives from `caller`,
  the one dependency that reads that header;
- one with a path parameter may answer 404 (no such record);
- one that takes a body may answer 400 (not UTF-8) and 413 (too large), from api/edge.py;
- every one may answer 422 (a field, a query parameter not taken, a number out of range);
- the statuses only a few operations answer (409 conflicts, a sign-in provider's 503) are
  listed in RAISES below, each with why;
- anything else (a 405, an unexpected 500) is the `default` response: a problem too.

Every error names the one Problem schema (api/problems.py writes the bodies it describes),
as application/problem+json. The Authorization header parameter itself is then dropped:
OpenAPI ignores a header parameter of that name, and the security scheme says it properly.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.problems import MEDIA_TYPE, PROBLEM_SCHEMA, TITLES

SCHEME = "bearer"
PROBLEM_REF = "#/components/schemas/Problem"
BEARER = {
    "type": "http",
    "scheme": "bearer",
    "description": (
        "A carepath API token (`carepath token create --role ROLE`), or the ID token the "
        "hospital's sign-in (OpenID Connect) gave the dashboard. Send "
        "`Authorization: Bearer TOKEN`."
    ),
}
WITH_BODY = frozenset({"post", "put", "patch", "delete"})
IDEMPOTENCY = "the idempotency key was used before for a different request: send a new key"
TASK_CONFLICT = "the task is no longer open, is on hold, or is claimed by someone else"
NOT_QUARANTINED = "the event is not quarantined"
RAISES: dict[tuple[str, str], dict[int, str]] = {
    ("get", "/health"): {503: "the database is not reachable"},
    ("get", "/auth/login"): {
        404: "sign-in with the hospital is not configured",
        503: "the sign-in provider cannot be reached",
    },
    ("get", "/auth/callback"): {
        400: "the answer belongs to no sign-in started in this browser",
        404: "sign-in with the hospital is not configured",
    },
    ("post", "/auth/session"): {
        400: "the sign-in provider refused the sign-in",
        401: "no sign-in is waiting for this browser, or its ID token was refused",
        403: "the person's groups map to no carepath role",
        503: "the sign-in provider cannot be reached",
    },
    ("post", "/enrollments"): {
        404: "no such patient, or no such pathway or version",
        409: f"{IDEMPOTENCY} (another patient or pathway)",
    },
    **{
        ("post", f"/enrollments/{{enrollment_id}}/{action}"): {
            409: f"the enrollment has ended, or {IDEMPOTENCY} (another event type)"
        }
        for action in ("events", "hold", "resume", "withdraw")
    },
    **{
        ("post", f"/tasks/{{task_id}}/{action}"): {409: TASK_CONFLICT}
        for action in ("claim", "complete", "skip", "reassign")
    },
    ("post", "/events/{event_id}/retry"): {409: NOT_QUARANTINED},
    ("post", "/events/{event_id}/reject"): {409: NOT_QUARANTINED},
}
DERIVED = {
    400: "the body is not UTF-8",
    401: "no bearer token, or one that is not valid (unknown, expired or revoked)",
    403: "the caller's role may not do this (or may not see this record)",
    404: "no such record for an id in the path",
    413: "the body is larger than the server takes",
    422: "a field, parameter or cursor refused (an unknown query parameter too): see `detail`",
    503: "the hospital's sign-in provider cannot be reached to check the token (OpenID Connect)",
}


def install(app: FastAPI) -> None:
    """Serve the completed schema at /openapi.json (built once, on first use)."""

    def completed() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = contract(app)
        return app.openapi_schema

    app.openapi = completed  # type: ignore[method-assign]


def contract(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema of the app, with security and problem responses added."""
    schema = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
        servers=app.servers,
    )
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})[SCHEME] = BEARER
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = deepcopy(PROBLEM_SCHEMA)
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            _complete(operation, method, path)
    for unused in ("HTTPValidationError", "ValidationError"):  # replaced by Problem
        schemas.pop(unused, None)
    return schema


def _complete(operation: dict[str, Any], method: str, path: str) -> None:
    parameters = [p for p in operation.get("parameters", []) if not _is_authorization(p)]
    authenticated = len(parameters) < len(operation.get("parameters", []))
    if parameters:
        operation["parameters"] = parameters
    else:
        operation.pop("parameters", None)
    operation["security"] = [{SCHEME: []}] if authenticated else []
    statuses: dict[int, str] = {422: DERIVED[422]}
    if authenticated:
        statuses |= {401: DERIVED[401], 403: DERIVED[403], 503: DERIVED[503]}
    if any(parameter["in"] == "path" for parameter in parameters):
        statuses[404] = DERIVED[404]
    if method in WITH_BODY:
        statuses |= {400: DERIVED[400], 413: DERIVED[413]}
    statuses |= RAISES.get((method, path), {})
    responses = operation.setdefault("responses", {})
    for code in [code for code in responses if code[0] in "45"]:  # FastAPI's, or a route's
        statuses.setdefault(int(code), responses[code].get("description") or _title(int(code)))
    for status, why in sorted(statuses.items()):
        responses[str(status)] = _problem_response(f"{_title(status)}: {why}")
    responses["default"] = _problem_response("Any other error (405, 500, ...), as a problem")


def _title(status: int) -> str:
    return TITLES.get(status, "Error")


def _problem_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {MEDIA_TYPE: {"schema": {"$ref": PROBLEM_REF}}}}


def _is_authorization(parameter: dict[str, Any]) -> bool:
    return bool(parameter["in"] == "header" and parameter["name"].lower() == "authorization")
