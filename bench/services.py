"""Processes the benchmarks and the soak start: services in their own sessions, a private
Redis, waiting for ports and health, and the CPU they use. Shared by bench/end_to_end.py,
bench/scaling.py and bench/soak/."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import Engine, text

from bench.persisted import BrokenRun
from bench.results import peak_rss_mib

ROOT = Path(__file__).resolve().parent.parent
CAREPATH = [sys.executable, "-c", "from pathways.cli import main; main()"]


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout: float, what: str, every: float = 0.1) -> None:
    """Poll until `check()` holds, or fail saying what did not happen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every)
    raise BrokenRun(f"timed out after {timeout:.0f} s waiting for {what}")


# --- processes ------------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    """The live child processes of `pid` (Celery's pool)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after its ')'
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


class Service:
    """A process of ours in its own session, with its output in a log file."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.log = logs / f"{name}.log"
        self.handle = self.log.open("ab")
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=self.handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us only; we stop it in order
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def peaks(self) -> tuple[float, float]:
        """VmHWM of the process and of its largest child (0 without children), MiB."""
        own = peak_rss_mib(self.pid)
        pool = [peak_rss_mib(child) for child in children(self.pid)]
        return own, max(pool, default=0.0)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        """SIGTERM to its process group; SIGKILL if it has not gone in 15 s."""
        if self.alive():
            try:
                os.killpg(self.pid, signal.SIGTERM)
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.process.wait(10)
            except ProcessLookupError:
                pass
        self.handle.close()


def redis_server(port: int, directory: Path) -> list[str]:
    """A private Redis: no persistence, refuses writes rather than evicting messages."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise BrokenRun("redis-server is not installed")
    return [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--maxmemory-policy",
        "noeviction",
        "--dir",
        str(directory),
    ]


def redis_answers(port: int) -> bool:
    """Whether a Redis answers PING on the port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def healthy(port: int) -> bool:
    """Whether the API on the port answers /health with 200."""
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU time of each live process, in seconds (/proc/PID/stat)."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return found


def backends(engine: Engine, database: str, exclude: int) -> list[int]:
    """The PostgreSQL server processes serving clients of `database` (but `exclude`)."""
    query = text(
        "SELECT pid FROM pg_stat_activity WHERE datname = :name AND pid <> :me "
        "AND backend_type = 'client backend'"
    )
    with engine.connect() as connection:
        return [int(pid) for (pid,) in connection.execute(query, {"name": database, "me": exclude})]


@dataclass(frozen=True)
class Grounds:
    """What a distributed benchmark runs on: a private Redis and a fresh, migrated database
    with the library published; `env` points carepath processes at both."""

    engine: Engine
    logs: Path
    broker: str
    env: dict[str, str]


def grounds(exits: ExitStack, database: str, prefix: str) -> Grounds:
    """Start them, each torn down by `exits` on the way out (the database dropped)."""
    from bench.persisted import postgres_database
    from pathways.service.bus import Service as Writes
    from pathways.service.commands import PublishLibrary
    from pathways.store.database import database_engine, upgrade

    logs = Path(tempfile.mkdtemp(prefix=prefix))
    exits.callback(shutil.rmtree, logs, ignore_errors=True)
    redis_port = free_port()
    redis = Service("redis", redis_server(redis_port, logs), dict(os.environ), logs)
    exits.callback(redis.stop)
    url = exits.enter_context(postgres_database(database))
    upgrade(url)
    engine = database_engine(url)
    exits.callback(engine.dispose)
    Writes.on(engine).handle(PublishLibrary(paths=(str(ROOT / "definitions"),), actor="bench"))
    wait_until(lambda: redis_answers(redis_port), 10, "the private redis-server")
    broker = f"redis://127.0.0.1:{redis_port}/0"
    env = {**os.environ, "CAREPATH_DATABASE_URL": url, "CAREPATH_BROKER_URL": broker}
    return Grounds(engine, logs, broker, env)
