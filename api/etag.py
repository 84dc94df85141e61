"""ETags for polling: a GET answered 200 carries a weak ETag of its body; a client that sends
it back in If-None-Match gets 304 and no body while nothing changed."""

import hashlib

from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import Response


class ETagMiddleware(BaseHTTPMiddleware):
    """Adds ETag and Cache-Control: no-cache to GET 200s; answers 304 when unchanged."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        if request.method != "GET" or response.status_code != 200:
            return response
        body = b"".join([chunk async for chunk in response.body_iterator])  # type: ignore[attr-defined]
        tag = 'W/"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        headers = dict(response.headers)
        headers.pop("content-length", None)
        headers["etag"] = tag
        headers["cache-control"] = "no-cache"
        wanted = {value.strip() for value in request.headers.get("if-none-match", "").split(",")}
        if tag in wanted or "*" in wanted:
            return Response(status_code=304, headers={"etag": tag, "cache-control": "no-cache"})
        return Response(body, status_code=200, headers=headers, media_type=response.media_type)
