"""`python -m bench.soak --minutes N --workers N --enrollments N [--json] [--keep]`.

A chaos soak: real API, workers and beat on PostgreSQL and a private Redis; staff driven over
HTTP while workers are SIGKILLed at random and Redis is killed and restarted once. Exits 1
when anything was lost, duplicated, applied out of order or left stuck, or replay differs.
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import threading
import time
from datetime import UTC, datetime

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from bench.persisted import BrokenRun, postgres_problem
from bench.services import ROOT
from bench.soak.driver import Driver
from bench.soak.report import Figures, figures
from bench.soak.stack import TOKEN, Stack, stack
from pathways.store.tables import PathwayEvent, Timer


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to drive events")
    parser.add_argument("--workers", type=int, default=3, help="`carepath worker` processes")
    parser.add_argument("--enrollments", type=int, default=500, help="patients enrolled")
    parser.add_argument("--rate", type=float, default=10.0, help="staff actions per second")
    parser.add_argument("--staff", type=int, default=4, help="driver threads")
    parser.add_argument(
        "--kill-every",
        type=float,
        nargs=2,
        default=(5.0, 15.0),
        metavar=("MIN", "MAX"),
        help="seconds between worker SIGKILLs, drawn uniformly",
    )
    parser.add_argument("--recover-after", type=float, default=5.0, help="CAREPATH_RECOVER_...")
    parser.add_argument("--drain", type=float, default=180.0, help="max seconds to drain")
    parser.add_argument("--stuck-after", type=float, default=60.0, help="seconds: stuck")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: time)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the database and logs")
    options = parser.parse_args(argv)
    if options.workers < 1 or options.enrollments < 1 or options.minutes <= 0:
        parser.error("--workers and --enrollments must be 1 or more, --minutes above 0")
    return options


def chaos(
    built: Stack, until: float, halt: threading.Event, rng: random.Random, kill: tuple[float, float]
) -> None:
    """Kill a random worker every so often; kill Redis once, halfway; restart what died."""
    began = time.monotonic()
    redis_at = began + (until - began) / 2
    next_kill = began + rng.uniform(*kill)
    while not halt.is_set() and time.monotonic() < until:
        now = time.monotonic()
        if now >= next_kill:
            built.kill_worker(rng)
            next_kill = now + rng.uniform(*kill)
        if built.chaos.redis_restarts == 0 and now >= redis_at:
            built.restart_redis()
        built.supervise()
        halt.wait(0.5)


def unprocessed(engine: Engine) -> int:
    """Events recorded and not yet processed."""
    with Session(engine) as session:
        return int(
            session.exec(
                select(func.count())
                .select_from(PathwayEvent)
                .where(col(PathwayEvent.processed_at).is_(None))
            ).one()
        )


def backlog(engine: Engine) -> int:
    """Events not yet processed, and timers due but not fired."""
    with Session(engine) as session:
        timers = session.exec(
            select(func.count())
            .select_from(Timer)
            .where(
                col(Timer.fired_at).is_(None),
                col(Timer.cancelled_at).is_(None),
                Timer.due_at <= datetime.now(UTC),
            )
        ).one()
    return unprocessed(engine) + int(timers)


def drain(built: Stack, seconds: float) -> bool:
    """Wait (bounded) until nothing is left to apply or fire; whether it got there."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        built.supervise()
        if backlog(built.engine) == 0:
            return True
        time.sleep(1)
    return False


BEGAN = time.monotonic()


def say(message: str) -> None:
    """Progress, on stderr (stdout is the report), with the seconds since the start."""
    print(f"[{time.monotonic() - BEGAN:6.1f} s] {message}", file=sys.stderr, flush=True)


def soak(options: argparse.Namespace) -> Figures:
    """Run the soak and count."""
    seed = options.seed if options.seed is not None else int(time.time())
    rng = random.Random(seed)
    run = f"{seed}"
    with stack(options.workers, options.keep, options.recover_after) as built:
        driver = Driver(built.base_url, TOKEN, ROOT / "definitions", seed)
        say(f"stack up (logs in {built.logs}); enrolling {options.enrollments} (seed {seed})")
        driver.enrol(options.enrollments, run, options.staff)
        halt = threading.Event()
        until = time.monotonic() + 60 * options.minutes
        staff = driver.start(options.staff, options.rate, run)
        say(f"driving for {options.minutes:g} min with chaos")
        try:
            chaos(built, until, halt, rng, tuple(options.kill_every))
        finally:
            driver.halt.set()
            halt.set()
            for thread in staff:
                thread.join(60)
        if driver.failure is not None:
            raise BrokenRun(f"the driver failed: {driver.failure!r}")
        say(f"{driver.sent} events posted; draining (at most {options.drain:g} s)")
        drained = drain(built, options.drain)
        ended = datetime.now(UTC)  # "stuck" is judged at the end of the drain
        say(f"drained: {drained}; stopping beat, then the workers once idle")
        built.quiesce(lambda: unprocessed(built.engine), 30)
        say("replaying every enrollment")
        replayed = built.replay()
        built.chaos.api_deadlocks = built.api_deadlocks()
        say("counting; then stopping everything")
        return figures(
            built.engine,
            options.minutes,
            options.workers,
            driver.driven,
            built.chaos,
            replayed,
            ended,
            options.stuck_after,
            drained,
        )


def main(argv: list[str] | None = None) -> int:
    """Run, print the figures, and exit 1 on any failure (2 when the soak could not run)."""
    options = arguments(argv)
    # A supervisor's SIGTERM tears down like Ctrl-C: our processes live in their own sessions
    # and would outlive us otherwise.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    problem = postgres_problem()
    if problem is not None:
        print(f"the soak needs PostgreSQL: {problem}", file=sys.stderr)
        return 2
    try:
        result = soak(options)
    except BrokenRun as broken:
        print(f"the soak could not run: {broken}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        say("interrupted: every process stopped, the database dropped (unless --keep)")
        return 130
    say("stopped")
    print(result.as_json() if options.json else result.table())
    return 1 if result.failures() else 0


if __name__ == "__main__":
    sys.exit(main())
