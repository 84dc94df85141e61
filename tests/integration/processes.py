"""Real servers and processes for the worker tests: a private Redis, workers, a beat."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests import phi_guard

ROOT = Path(__file__).resolve().parents[2]
CAREPATH = [sys.executable, "-c", "from pathways.cli import main; main()"]


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout: float, what: str | Callable[[], str]) -> None:
    """Poll until `check()` holds, or fail saying what did not happen (`what` may be a
    function, so that processes' logs are read when it failed, not before)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    said = what() if callable(what) else what
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {said}")


class PrivateRedis:
    """A redis-server of our own on a free port, which tests may stop and restart."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed"
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--maxmemory-policy",
                "noeviction",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._answers, 10, f"redis on port {self.port}")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


class CarepathProcess:
    """`carepath worker` or `carepath beat` as a real subprocess, with its log kept."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        phi_guard.watch(log)  # scanned for patients' names and MRNs after the run
        self.handle = log.open("ab")
        self.process = subprocess.Popen(
            [*CAREPATH, *args],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=self.handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL: no chance to finish or acknowledge anything."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.handle.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def wait_healthy(self, base: str, timeout: float = 90) -> None:
        """Wait until the server at `base` answers /health with 200."""

        def healthy() -> bool:
            try:
                return httpx.get(f"{base}/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, timeout, f"{base}/health to answer\n{self.output()}")


class SharedRedis:
    """The machine's own Redis (database 15, emptied first); never stopped or restarted."""

    url = os.environ.get("CAREPATH_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

    def reachable(self) -> str | None:
        from redis import Redis

        try:
            client = Redis.from_url(self.url, socket_connect_timeout=2)
            client.flushdb()
            client.close()
        except Exception as error:
            return f"{type(error).__name__}: {error}"
        return None

    def start(self) -> None:
        """Nothing to start: the server is the machine's."""

    def stop(self) -> None:
        """Never stopped: other users share it."""
