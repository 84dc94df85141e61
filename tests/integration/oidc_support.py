"""A real OpenID Connect provider (panva/oidc-provider on Node) for the sign-in tests.

Its npm packages install once per lockfile into a cache folder (`npm ci`), so a fresh clone
needs only Node and npm. Under CI=true a missing Node fails the tests instead of skipping them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.integration.processes import free_port, wait_until

SOURCE = Path(__file__).resolve().parents[1] / "oidc_provider"
REDIRECT_URL = "http://testserver/auth/callback"  # TestClient's own address


def _installed() -> Path:
    """The provider's folder with node_modules installed from the committed lockfile."""
    lock = (SOURCE / "package-lock.json").read_bytes()
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "carepath"
    home = cache / f"oidc-provider-{hashlib.sha256(lock).hexdigest()[:16]}"
    if not (home / "node_modules" / "oidc-provider").is_dir():
        building = cache / f"{home.name}.{os.getpid()}"
        shutil.rmtree(building, ignore_errors=True)
        building.mkdir(parents=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(SOURCE / name, building / name)
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=building,
            check=True,
            capture_output=True,
            timeout=600,
        )
        try:  # another test session may have finished first; either copy will do
            building.rename(home)
        except OSError:
            shutil.rmtree(building, ignore_errors=True)
    shutil.copy(SOURCE / "provider.mjs", home / "provider.mjs")
    return home


def _node_missing() -> str | None:
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    return f"{' and '.join(missing)} not installed" if missing else None


class ProviderProcess:
    """oidc-provider running from its installed folder, on a port, with a key generation."""

    def __init__(self, home: Path, port: int, log: Path) -> None:
        self.home, self.port, self.log = home, port, log
        self.issuer = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, generation: int = 1) -> None:
        """Start answering, signing with keys `rs-GENERATION` and `es-GENERATION`."""
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                ["node", "provider.mjs", str(self.port), REDIRECT_URL, str(generation)],
                cwd=self.home,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        process = self.process

        def answers() -> bool:
            try:
                discovery = f"{self.issuer}/.well-known/openid-configuration"
                return httpx.get(discovery).status_code == 200
            except httpx.HTTPError:
                return process.poll() is not None  # it died: stop waiting, the assert says why

        wait_until(answers, 30, f"the OIDC provider on port {self.port}")
        assert process.poll() is None, self.log.read_text()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def provider_for_tests(tmp_path_factory: pytest.TempPathFactory) -> ProviderProcess:
    """A provider ready to start on a free port (npm packages installed), or skip/fail."""
    problem = _node_missing()
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the OIDC tests need Node.js and npm under CI=true: {problem}")
        pytest.skip(f"the OIDC tests need Node.js and npm: {problem}")
    log = tmp_path_factory.mktemp("oidc") / "provider.log"
    return ProviderProcess(_installed(), free_port(), log)


@pytest.fixture(scope="session")
def oidc_issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The issuer URL of a running provider on a free loopback port."""
    provider = provider_for_tests(tmp_path_factory)
    provider.start()
    yield provider.issuer
    provider.stop()


def sign_in(client: TestClient, username: str) -> httpx.Response:
    """Sign `username` in through carepath's /auth/login, the provider's pages and /auth/callback.

    Returns carepath's answer to the callback (a redirect to the page, or a problem).
    """
    started = client.get("/auth/login", follow_redirects=False)
    assert started.status_code == 303, started.text
    with httpx.Client() as browser:  # the browser's visit to the provider, with its cookies
        answer = browser.get(started.headers["location"])
        while answer.is_redirect and "/interaction/" not in answer.headers["location"]:
            answer = browser.get(answer.headers["location"])
        interaction = urlsplit(str(answer.url.join(answer.headers["location"]))).path
        answer = browser.post(f"{answer.url.join(interaction)}/login", data={"login": username})
        while answer.is_redirect and not answer.headers["location"].startswith(REDIRECT_URL):
            answer = browser.get(answer.url.join(answer.headers["location"]))
    assert answer.is_redirect, answer.text
    back = urlsplit(answer.headers["location"])
    return client.get(f"{back.path}?{back.query}", follow_redirects=False)


def page_token(client: TestClient, username: str) -> str:
    """The credential the dashboard page collects after `username` signs in with the hospital."""
    finished = sign_in(client, username)
    assert finished.status_code == 303, finished.text
    collected = client.post("/auth/session")
    assert collected.status_code == 200, collected.text
    token: str = collected.json()["token"]
    return token
