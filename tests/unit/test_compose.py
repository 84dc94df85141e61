"""docker-compose.yml, checked by reading (no Docker engine here): the promised stack."""

from __future__ import annotations

import re
from typing import Any

from ruamel.yaml import YAML

from tests.conftest import ROOT

COMPOSE = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")


def _stack() -> dict[str, Any]:
    loaded: dict[str, Any] = YAML(typ="safe").load(COMPOSE)  # resolves the << merges
    return loaded


def test_the_stack_has_its_services_with_health_checks_and_start_order() -> None:
    services = _stack()["services"]
    assert set(services) == {
        "postgres",
        "redis",
        "migrate",
        "api",
        "worker",
        "sweeper",
        "deliverer",
        "beat",
    }
    for name in ("postgres", "redis", "api"):
        assert "healthcheck" in services[name], name
    for name in ("api", "worker", "sweeper", "deliverer", "beat"):
        needs = services[name]["depends_on"]
        assert needs["postgres"]["condition"] == "service_healthy"
        assert needs["redis"]["condition"] == "service_healthy"
        assert needs["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["restart"] == "no"


def test_redis_never_evicts_and_there_is_exactly_one_beat() -> None:
    services = _stack()["services"]
    command = services["redis"]["command"]
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert services["beat"]["deploy"]["replicas"] == 1
    assert services["worker"]["command"][:2] == ["carepath", "worker"]
    assert services["beat"]["command"][:2] == ["carepath", "beat"]


def test_secrets_come_from_the_environment_with_no_default() -> None:
    for secret in ("POSTGRES_PASSWORD", "CAREPATH_ADMIN_TOKEN"):
        uses = re.findall(r"\$\{" + secret + r"([^}]*)\}", COMPOSE)
        assert uses, secret
        assert all(use.startswith(":?") for use in uses), f"{secret} must be required: {uses}"
    api_env = _stack()["services"]["api"]["environment"]
    assert set(api_env) == {
        "CAREPATH_DATABASE_URL",
        "CAREPATH_BROKER_URL",
        "CAREPATH_ADMIN_TOKEN",
        "CAREPATH_API_WORKERS",
    }


def test_compose_runs_more_than_one_api_process_and_lets_the_operator_choose() -> None:
    from pathways.store.settings import Settings

    workers = _stack()["services"]["api"]["environment"]["CAREPATH_API_WORKERS"]
    assert workers == "${CAREPATH_API_WORKERS:-4}"
    assert Settings(api_workers=int(workers.split(":-")[1].rstrip("}"))).api_processes() == 4


def _queues(command: list[str]) -> set[str]:
    assert command[:2] == ["carepath", "worker"], command
    return set(command[command.index("--queues") + 1].split(","))


def test_every_queue_has_its_own_workers_so_a_slow_receiver_holds_no_event_or_timer() -> None:
    from workers.celery_app import QUEUES, ROUTES

    services = _stack()["services"]
    served = {
        name: _queues(service["command"])
        for name, service in services.items()
        if service.get("command", [])[:2] == ["carepath", "worker"]
    }
    assert served == {"worker": {"events"}, "sweeper": {"sweeps"}, "deliverer": {"deliveries"}}
    assert set(ROUTES.values()) == set(QUEUES) == set().union(*served.values())
    # event workers scale (no replicas pinned); one sweeper, one deliverer
    assert "deploy" not in services["worker"]
    assert services["sweeper"]["deploy"]["replicas"] == 1
    assert services["deliverer"]["deploy"]["replicas"] == 1
