"""The dashboard page and its assets: served by the API, locally, with a strict policy."""

from __future__ import annotations

import re

from api.web import STATIC
from tests.integration.api_support import Api


def test_the_page_is_served_without_a_token_and_runs_only_its_own_scripts(api: Api) -> None:
    page = api.client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text):
        assert api.client.get(asset).status_code == 200, asset


def test_every_asset_is_local_so_the_page_works_offline() -> None:
    ours = [p for p in STATIC.rglob("*") if p.is_file() and "vendor" not in p.parts]
    assert {p.suffix for p in ours} >= {".html", ".css", ".js"}
    for path in ours:
        text = path.read_text().replace('xmlns="http://www.w3.org/2000/svg"', "")  # a name
        assert not re.search(r"https?://", text), f"{path} loads something from elsewhere"
        assert "innerHTML" not in text or path.name == "library.js", f"{path} writes raw HTML"


def test_every_module_the_page_imports_is_served(api: Api) -> None:
    for module in (STATIC / "js").rglob("*.js"):
        for imported in re.findall(r'from "(\.{1,2}/[^"]+)"', module.read_text()):
            target = (module.parent / imported).resolve()
            assert target.is_file(), f"{module.name} imports {imported}, which is missing"
        served = "/static/" + module.relative_to(STATIC).as_posix()
        response = api.client.get(served)
        assert response.status_code == 200 and "javascript" in response.headers["content-type"]
