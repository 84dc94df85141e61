"""The soak's processes: its own database, a private Redis, the API, N workers and one beat.

Everything is stopped (and the database dropped, unless kept) when the context closes, on
Ctrl-C and errors too. Workers run solo (one process each), so a SIGKILL lands on the task
being applied.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, create_engine, text

from bench.persisted import ADMIN_URL, BrokenRun
from bench.services import (
    CAREPATH,
    ROOT,
    Service,
    free_port,
    healthy,
    redis_answers,
    redis_server,
    wait_until,
)
from bench.soak.records import Chaos, Replay
from pathways.service.bus import Service as Carepath
from pathways.service.commands import PublishLibrary
from pathways.store.database import database_engine, upgrade

TOKEN = "carepath-soak-admin-token"
REDIS_DOWN_SECONDS = 3.0


@contextmanager
def soak_database(keep: bool) -> Iterator[str]:
    """A fresh PostgreSQL database of a unique name, dropped afterwards unless `keep`."""
    name = f"carepath_soak_{uuid.uuid4().hex[:8]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield admin.url.set(database=name).render_as_string(hide_password=False)
        finally:
            if keep:
                print(f"database kept: {name}", file=sys.stderr)
            else:
                with admin.connect() as connection:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@dataclass
class Stack:
    """The running processes, and what the soak did to them."""

    engine: Engine
    env: dict[str, str]
    logs: Path
    exits: ExitStack
    redis_port: int
    redis: Service
    api_port: int = 0
    api: Service | None = None
    workers: list[Service] = field(default_factory=list)
    sweeper: Service | None = None
    beat: Service | None = None
    chaos: Chaos = field(default_factory=Chaos)
    starts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start(self, name: str, command: list[str]) -> Service:
        """A service, stopped when the stack closes."""
        self.starts += 1
        service = Service(f"{self.starts:03d}-{name}", command, self.env, self.logs)
        self.exits.callback(service.stop)
        return service

    def start_worker(self) -> Service:
        """An events worker (the ones killed at random), as compose's `worker` service."""
        return self.start(
            "worker", [*CAREPATH, "worker", "--queues", "events", "--concurrency", "1"]
        )

    def start_sweeper(self) -> Service:
        """The one worker for sweeps and webhook deliveries, as compose's sweeper/deliverer."""
        command = [*CAREPATH, "worker", "--queues", "sweeps,deliveries", "--concurrency", "1"]
        return self.start("sweeper", command)

    def start_beat(self) -> Service:
        schedule = self.logs / f"beat-schedule-{self.starts}"
        return self.start("beat", [*CAREPATH, "beat", "--schedule-file", str(schedule)])

    def kill_worker(self, rng: random.Random) -> None:
        """SIGKILL a random worker's process group, and start another in its place."""
        with self.lock:
            index = rng.randrange(len(self.workers))
            victim = self.workers[index]
            if victim.alive():
                os.killpg(victim.pid, signal.SIGKILL)
                victim.process.wait(10)
                self.chaos.worker_kills += 1
            self.workers[index] = self.start_worker()

    def restart_redis(self) -> None:
        """SIGKILL Redis (every queued message is gone: no persistence), then start it again."""
        os.kill(self.redis.pid, signal.SIGKILL)
        self.redis.process.wait(10)
        time.sleep(REDIS_DOWN_SECONDS)
        self.redis = self.start("redis", redis_server(self.redis_port, self.logs))
        wait_until(lambda: redis_answers(self.redis_port), 15, "redis-server to come back")
        self.chaos.redis_restarts += 1

    def supervise(self) -> None:
        """Start again any worker or beat that exited by itself (beat does when Redis loses
        its lock)."""
        with self.lock:
            for index, worker in enumerate(self.workers):
                if not worker.alive():
                    self.chaos.worker_exits += 1
                    self.workers[index] = self.start_worker()
            if self.sweeper is not None and not self.sweeper.alive():
                self.chaos.worker_exits += 1
                self.sweeper = self.start_sweeper()
            if self.beat is not None and not self.beat.alive() and redis_answers(self.redis_port):
                self.chaos.beat_restarts += 1
                self.beat = self.start_beat()

    def quiesce(self, unprocessed: Callable[[], int], seconds: float) -> None:
        """Stop beat, let the workers apply what it recorded last, then stop the workers.

        Replay reads the states and the log in separate transactions, so it must run on a
        stack that no longer moves: a timer firing meanwhile shows as a false difference.
        """
        with self.lock:
            if self.beat is not None:
                self.beat.stop()
                self.beat = None  # supervise() starts no other
        deadline = time.monotonic() + seconds
        while unprocessed() and time.monotonic() < deadline:
            self.supervise()
            time.sleep(0.5)
        with self.lock:
            for worker in self.workers:
                worker.stop()
            if self.sweeper is not None:
                self.sweeper.stop()
                self.sweeper = None

    def api_deadlocks(self) -> int:
        """Deadlocks PostgreSQL reported to the API (each one a 500 answer)."""
        if self.api is None:
            return 0
        return self.api.log.read_text(errors="replace").count(
            "OperationalError: (psycopg.errors.DeadlockDetected)"
        )

    def replay(self) -> Replay:
        """`carepath replay --all --verify` against the soak's database."""
        done = subprocess.run(
            [*CAREPATH, "replay", "--all", "--verify"],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        summary = (done.stderr.strip().splitlines() or ["(no summary)"])[-1]
        (self.logs / "replay.log").write_text(done.stdout + done.stderr)
        lines = done.stdout.splitlines()
        results = [line for line in lines if not line.startswith(" ")]
        differ = sum(": DIFFERS" in line for line in results)
        # each differing enrollment with its first difference, to start looking from
        samples = [
            f"{line} {lines[n + 1].strip() if n + 1 < len(lines) else ''}"
            for n, line in enumerate(lines)
            if ": DIFFERS" in line
        ]
        return Replay(done.returncode == 0, len(results), differ, summary, samples)


@contextmanager
def stack(workers: int, keep: bool, recover_after: float) -> Iterator[Stack]:
    """Database, Redis, API, workers and beat, all running; all torn down on the way out."""
    if shutil.which("redis-server") is None:
        raise BrokenRun("redis-server is not installed")
    with ExitStack() as exits:
        logs = Path(tempfile.mkdtemp(prefix="carepath-soak-"))
        if not keep:
            exits.callback(shutil.rmtree, logs, ignore_errors=True)
        redis_port = free_port()
        redis = Service("000-redis", redis_server(redis_port, logs), dict(os.environ), logs)
        exits.callback(redis.stop)  # a restarted Redis is stopped by its own callback
        url = exits.enter_context(soak_database(keep))
        upgrade(url)
        engine = database_engine(url)
        exits.callback(engine.dispose)
        definitions = str(ROOT / "definitions")
        Carepath.on(engine).handle(PublishLibrary(paths=(definitions,), actor="carepath-soak"))
        wait_until(lambda: redis_answers(redis_port), 10, "the private redis-server")
        env = {
            **os.environ,
            "CAREPATH_DATABASE_URL": url,
            "CAREPATH_BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
            "CAREPATH_ADMIN_TOKEN": TOKEN,
            "CAREPATH_RECOVER_AFTER_SECONDS": str(recover_after),
        }
        built = Stack(engine, env, logs, exits, redis_port, redis, api_port=free_port())
        port = str(built.api_port)
        api = built.start("api", [*CAREPATH, "api", "--host", "127.0.0.1", "--port", port])
        built.api = api
        built.workers = [built.start_worker() for _ in range(workers)]
        built.sweeper = built.start_sweeper()
        built.beat = built.start_beat()
        wait_until(lambda: healthy(built.api_port) or not api.alive(), 60, "the API")
        if not api.alive():
            raise BrokenRun(f"the API did not start:\n{api.output()}")
        yield built
