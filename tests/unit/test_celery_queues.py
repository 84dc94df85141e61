"""The Celery app's queues and time limits, read from the app itself (no broker needed)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from pathways.cli import cli
from pathways.store.webhooks import BATCH, LEASE, POST_TIMEOUT_SECONDS
from workers.celery_app import QUEUES, app
from workers.sweeps import SWEEPS


def _queue(task: str) -> str:
    route = app.amqp.router.route({}, task)
    return str(route["queue"].name)


def test_events_sweeps_and_deliveries_each_go_to_a_queue_of_their_own() -> None:
    assert _queue("carepath.apply_event") == "events"
    for sweep in ("fire_timers", "recover", "escalate", "dispatch"):
        assert _queue(f"carepath.{sweep}") == "sweeps", sweep
    assert _queue("carepath.deliver") == "deliveries"
    scheduled = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert {_queue(task) for task in scheduled} == {"sweeps", "deliveries"}


def test_beat_schedules_every_sweep_of_the_one_registry_at_its_period() -> None:
    schedule = app.conf.beat_schedule
    assert {name: entry["schedule"] for name, entry in schedule.items()} == {
        sweep.name: sweep.every for sweep in SWEEPS
    }
    assert "refresh_projections" in schedule  # projections are refreshed outside the lock


def test_every_task_has_a_soft_limit_below_its_hard_one_and_a_delivery_run_fits_its_posts() -> None:
    tasks = {name: task for name, task in app.tasks.items() if name.startswith("carepath.")}
    assert set(tasks) == {"carepath.apply_event"} | {f"carepath.{s.name}" for s in SWEEPS}
    for name, task in tasks.items():
        assert task.soft_time_limit is not None and task.time_limit is not None, name
        assert 0 < task.soft_time_limit < task.time_limit, name
        # below the broker's redelivery of unacknowledged messages
        assert task.time_limit < app.conf.broker_transport_options["visibility_timeout"], name
    deliver = tasks["carepath.deliver"]
    assert deliver.soft_time_limit >= BATCH * POST_TIMEOUT_SECONDS
    assert LEASE.total_seconds() > POST_TIMEOUT_SECONDS * 3  # connect, write, read
    assert tasks["carepath.fire_timers"].time_limit <= 60


def _worker_args(monkeypatch: pytest.MonkeyPatch, *options: str) -> tuple[int, list[str]]:
    seen: list[str] = []
    monkeypatch.setattr(app, "worker_main", lambda argv: seen.extend(argv))
    result = CliRunner().invoke(
        cli, ["worker", *options], env={"CAREPATH_BROKER_URL": "redis://127.0.0.1:1/0"}
    )
    return result.exit_code, seen or [result.output]


def test_a_worker_serves_every_queue_by_default_or_those_it_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, argv = _worker_args(monkeypatch)
    assert code == 0
    assert f"--queues={','.join(QUEUES)}" in argv
    assert "--pool=prefork" in argv  # the solo pool would ignore the time limits

    code, argv = _worker_args(monkeypatch, "--queues", "events,sweeps")
    assert code == 0 and "--queues=events,sweeps" in argv

    code, output = _worker_args(monkeypatch, "--queues", "events,webhooks")
    assert code == 2 and "webhooks: choose from events,sweeps,deliveries" in output[0]
