"""/docs in a browser with no way out: Swagger UI renders carepath's API from the package alone.

Every request for another host is aborted, as on a ward network without internet; the page
must still show the operations, the bearer sign-in, and must not have tried to leave.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import Page, Route, expect

from tests.browser.conftest import Server, screenshot

expect.set_options(timeout=20_000)


def test_docs_render_every_operation_offline(page: Page, server: Server) -> None:
    ours = urlsplit(server.base).netloc
    asked: list[str] = []
    left: list[str] = []

    def only_ours(route: Route) -> None:
        url = route.request.url
        asked.append(url)
        if urlsplit(url).netloc == ours:
            route.continue_()
        else:
            left.append(url)
            route.abort()

    page.route("**/*", only_ours)
    page.goto(f"{server.base}/docs")
    listing = page.locator(".opblock-get .opblock-summary-path[data-path='/enrollments']")
    expect(listing).to_be_visible()
    expect(page.locator(".opblock-get .opblock-summary-path[data-path='/tasks']")).to_be_visible()
    expect(
        page.locator(".opblock-post .opblock-summary-path[data-path='/patients']")
    ).to_be_visible()
    expect(page.locator("button.authorize")).to_be_visible()  # the bearer scheme, declared
    expect(page.locator(".info .title")).to_contain_text("carepath")
    screenshot(page, "20-api-docs", full_page=False)
    assert left == [], f"the docs page tried to leave the server: {left}"
    assert any(url.endswith("/openapi.json") for url in asked)
    assert any("/static/vendor/swagger-ui/swagger-ui-bundle.js" in url for url in asked)
