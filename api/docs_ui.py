"""`/docs`: the API's schema in Swagger UI, from files this package serves (no CDN).

FastAPI's own /docs loads Swagger UI from a CDN, which a ward network without internet
cannot reach: the page stays blank. This one loads the copy under
api/static/vendor/swagger-ui/ (see its README for the version and where it came from), and
turns off what would still call out: the online validator's badge. ReDoc is not served
(`redoc_url=None`): Swagger UI shows the same schema, and one vendored viewer is enough.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

VENDOR = "/static/vendor/swagger-ui"
SETTINGS = {
    "validatorUrl": None,  # else a badge image is fetched from validator.swagger.io
    "persistAuthorization": False,  # a pasted token is never kept in the browser's storage
    "tryItOutEnabled": False,
}


def install(app: FastAPI) -> None:
    """Serve /docs; the assets come from the /static mount (api/web.py)."""
    schema_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=schema_url,
            title=f"{app.title}: API",
            swagger_js_url=f"{VENDOR}/swagger-ui-bundle.js",
            swagger_css_url=f"{VENDOR}/swagger-ui.css",
            swagger_favicon_url=f"{VENDOR}/favicon-32x32.png",
            swagger_ui_parameters=SETTINGS,
        )
