"""The navigator dashboard: one page at `/` and its assets under /static, all served from here.

The page holds no data: it signs in with a bearer token and reads the API like any client.
Everything it loads is local (no CDN), so it works on a ward network with no internet.
"""

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

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


def install(app: FastAPI) -> None:
    """Serve the dashboard page at / and its assets at /static."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def dashboard_page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers=SECURITY_HEADERS)
