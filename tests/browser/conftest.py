"""A running `carepath up` (API, worker and beat on SQLite, with the demo patients) and headless
Chromium driven by Playwright, for end-to-end tests of the navigator dashboard.

Chromium is Debian's (/usr/bin/chromium, or CAREPATH_CHROMIUM): Playwright never downloads a
browser here. Without it the tests skip with the reason, except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.integration.processes import CAREPATH, ROOT, CarepathProcess, free_port

ADMIN_TOKEN = "browser-test-admin-token-0123456789"
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM_FLAGS = [  # the closed network refuses Chromium's own background connections
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium() -> str | None:
    """The Chromium executable to drive, if there is one."""
    return os.environ.get("CAREPATH_CHROMIUM") or shutil.which("chromium")


@dataclass
class Server:
    """The running system: its address, a token per role and its log."""

    base: str
    tokens: dict[str, str]
    process: CarepathProcess

    def api(
        self, method: str, path: str, role: str = "navigator", **kwargs: object
    ) -> httpx.Response:
        """A request to the API as `role`, outside the browser."""
        headers = {"Authorization": f"Bearer {self.tokens[role]}"}
        return httpx.request(method, f"{self.base}{path}", headers=headers, timeout=10, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("dashboard")
    env = {
        "CAREPATH_DATABASE_URL": f"sqlite:///{folder / 'carepath.db'}",
        "CAREPATH_ADMIN_TOKEN": ADMIN_TOKEN,
        # the stats read the stored summary: refreshed every second, a change shows at once
        "CAREPATH_DASHBOARD_SUMMARY_SECONDS": "1",
    }
    port = free_port()
    process = CarepathProcess(["up", "--port", str(port)], env, folder / "up.log")
    base = f"http://127.0.0.1:{port}"
    try:
        process.wait_healthy(base)
        tokens = {"admin": ADMIN_TOKEN}
        for role in ("navigator", "dashboard", "lab"):
            made = subprocess.run(
                [*CAREPATH, "token", "create", "--role", role, "--actor", f"{role}.e2e"],
                env={**os.environ, **env},
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            )
            tokens[role] = made.stdout.strip().splitlines()[-1]
        yield Server(base, tokens, process)
    finally:
        process.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    executable = chromium()
    if executable is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but Chromium is missing: .ci/run installs Debian's chromium")
        pytest.skip("no Chromium here (apt-get install chromium, or set CAREPATH_CHROMIUM)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh tab in the clinic's time zone, at a desktop size."""
    context = browser.new_context(
        viewport={"width": 1400, "height": 900}, timezone_id="America/Toronto", locale="en-CA"
    )
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    # A refused request (a bad token's 401) is shown on the page; anything else is a defect.
    opened.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and "Failed to load resource" not in message.text
            else None
        ),
    )
    yield opened
    context.close()
    assert errors == [], f"the page logged errors: {errors}"


def screenshot(page: Page, name: str, full_page: bool = True) -> Path:
    """Save a screenshot of the current view (whole page by default) under artifacts/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    # From the top: a full-page capture of a scrolled page draws the sticky bar mid-page and
    # leaves the next click short of its target.
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path), full_page=full_page)
    assert path.stat().st_size > 10_000, f"{path} looks empty"
    return path
