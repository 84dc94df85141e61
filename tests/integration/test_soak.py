"""A short chaos soak on PostgreSQL: real API, two workers SIGKILLed at random, Redis killed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.integration.conftest import POSTGRES_ADMIN_URL, _postgres_reachable
from tests.integration.processes import ROOT

SOAK = [
    sys.executable,
    "-m",
    "bench.soak",
    "--minutes",
    "0.4",
    "--workers",
    "2",
    "--enrollments",
    "8",
    "--kill-every",
    "4",
    "8",
    "--recover-after",
    "3",
    "--drain",
    "60",
    "--json",
]


def _needs(problem: str | None, what: str) -> None:
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} under CI=true: {problem}")
    pytest.skip(f"{what}: {problem}")


def test_a_short_soak_loses_and_duplicates_nothing_and_replays_every_enrollment() -> None:
    _needs(_postgres_reachable(), f"the soak needs PostgreSQL at {POSTGRES_ADMIN_URL}")
    _needs(
        None if shutil.which("redis-server") else "not installed",
        "the soak starts a private redis-server",
    )
    env = {**os.environ, "CAREPATH_BENCH_POSTGRES_URL": POSTGRES_ADMIN_URL}
    done = subprocess.run(
        SOAK, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode in (0, 1), done.stderr[-3000:]  # 2: it could not run at all
    report = json.loads(done.stdout)

    assert report["enrollments"] == 8 and report["workers"] == 2
    assert report["events_posted"] > 0
    processed = report["events_applied"] + report["events_rejected"]
    assert processed == report["events_recorded"] >= report["events_posted"]
    assert report["worker_kills"] >= 1 and report["redis_restarts"] == 1
    assert report["drained"] is True
    assert report["lost"] == 0, report["details"]
    assert report["duplicated"] == 0, report["details"]
    assert report["replay_passed"] is True, report["details"]["replay"]
    assert report["out_of_order"] == 0, report["details"]  # applied in recording order
    assert report["stuck"] == 0, report["details"]
    assert done.returncode == 0 and report["failures"] == []
