"""The navigator dashboard: one page at `/` and its assets under /static, all served from here.

The page holds no data: it signs in with a bearer token and reads the API like any client.
Everything it loads is local (no CDN), so it works on a ward network with no internet.
"""

import hashlib
import os
from functools import lru_cache
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.staticfiles import NotModifiedResponse
from starlette.types import Scope

STATIC = Path(__file__).parent / "static"

# The page runs only its own scripts; Mermaid's SVG carries inline styles, hence style-src.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


# Vendored files carry their version in their name (mermaid-11.17.2.min.js): a new version is a
# new URL, so a browser may keep one for a year. The page's own scripts change with carepath
# and are asked again each time (a 304 while unchanged).
FOREVER = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


class Assets(StaticFiles):
    """Static files with a strong ETag of their content and a caching policy by kind."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = FileResponse(full_path, status_code=status_code, stat_result=stat_result)
        response.headers["etag"] = _content_tag(str(full_path), stat_result.st_mtime_ns)
        vendored = Path(full_path).parent.name == "vendor"
        response.headers["cache-control"] = FOREVER if vendored else REVALIDATE
        if self.is_not_modified(response.headers, Headers(scope=scope)):
            return NotModifiedResponse(response.headers)
        return response


@lru_cache(maxsize=256)
def _content_tag(path: str, _mtime_ns: int) -> str:
    """A strong ETag from the file's bytes (read once per version of the file)."""
    return '"' + hashlib.sha256(Path(path).read_bytes()).hexdigest()[:32] + '"'


def install(app: FastAPI) -> None:
    """Serve the dashboard page at / and its assets at /static."""
    app.mount("/static", Assets(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def dashboard_page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers=SECURITY_HEADERS)
