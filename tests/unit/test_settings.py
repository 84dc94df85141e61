"""The CAREPATH_* settings: one typed object, read from the environment at the entry points."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from pathways.cli import cli
from pathways.store.settings import EMBEDDED_DATABASE, Settings, settings


def test_without_environment_the_embedded_defaults_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "BROKER_URL", "ADMIN_TOKEN", "QUARANTINE_AFTER"):
        monkeypatch.delenv(f"CAREPATH_{name}", raising=False)
    monkeypatch.setenv("CAREPATH_RECOVER_AFTER_SECONDS", "")  # empty counts as unset
    read = settings()
    assert (read.database_url, read.broker_url, read.admin_token) == (
        EMBEDDED_DATABASE,
        "memory://",
        None,
    )
    assert (read.recover_after_seconds, read.quarantine_after, read.webhook_max_attempts) == (
        30.0,
        5,
        12,
    )


def test_a_postgresql_url_is_given_the_psycopg_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAREPATH_DATABASE_URL", " postgres://carepath@db/carepath ")
    assert settings().database_url == "postgresql+psycopg://carepath@db/carepath"


def test_an_admin_token_shorter_than_16_characters_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CAREPATH_ADMIN_TOKEN", "short")
    with pytest.raises(ValidationError, match="16"):
        settings()


def test_carepath_api_names_the_setting_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAREPATH_ADMIN_TOKEN", "short")
    result = CliRunner().invoke(cli, ["api"])
    assert result.exit_code == 2
    assert "CAREPATH_ADMIN_TOKEN: Value error, must be 16+ characters" in result.output


def test_a_webhook_attempt_limit_below_one_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAREPATH_WEBHOOK_MAX_ATTEMPTS", "0")
    with pytest.raises(ValidationError, match="webhook_max_attempts"):
        settings()


def test_the_dashboard_summary_interval_is_a_setting_above_zero(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from workers.sweeps import summary_every

    monkeypatch.delenv("CAREPATH_DASHBOARD_SUMMARY_SECONDS", raising=False)
    assert settings().dashboard_summary_seconds == summary_every() == 30.0
    monkeypatch.setenv("CAREPATH_DASHBOARD_SUMMARY_SECONDS", "5")
    assert summary_every() == 5.0
    monkeypatch.setenv("CAREPATH_DASHBOARD_SUMMARY_SECONDS", "0")
    with pytest.raises(ValidationError, match="dashboard_summary_seconds"):
        settings()
    assert summary_every() == 30.0  # not raised at import: the command names it (below)
    result = CliRunner().invoke(cli, ["up"])
    assert result.exit_code == 2
    assert "CAREPATH_DASHBOARD_SUMMARY_SECONDS: Input should be greater than 0" in result.output


def test_the_api_runs_a_process_per_core_up_to_four_unless_told(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(16)))
    assert Settings().api_processes() == 4  # each holds a database pool: not one per core
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0})
    assert Settings().api_processes() == 1
    monkeypatch.setenv("CAREPATH_API_WORKERS", "6")
    assert Settings().api_processes() == 6
    monkeypatch.setenv("CAREPATH_API_WORKERS", "0")
    with pytest.raises(ValidationError, match="api_workers"):
        Settings()
