"""`carepath api` runs several processes, each with its own app and database pool."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.integration.processes import CarepathProcess, SharedRedis, free_port, wait_until

TOKEN = "api-processes-test-token-0123456789"


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def test_the_api_serves_from_as_many_processes_as_asked(tmp_path: Path, database_url: str) -> None:
    port = free_port()
    env = {
        "CAREPATH_DATABASE_URL": database_url,
        "CAREPATH_BROKER_URL": SharedRedis.url,
        "CAREPATH_ADMIN_TOKEN": TOKEN,
        "CAREPATH_API_WORKERS": "3",
    }
    server = CarepathProcess(
        ["api", "--host", "127.0.0.1", "--port", str(port)], env, tmp_path / "api.log"
    )
    base = f"http://127.0.0.1:{port}"
    try:
        server.wait_healthy(base, 90)
        wait_until(lambda: len(_children(server.process.pid)) >= 3, 30, server.output)
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            answers = [client.get("/me", timeout=5) for _ in range(30)]
        assert {answer.status_code for answer in answers} == {200}
        assert answers[0].json()["role"] == "admin"
    finally:
        server.stop()
    log = server.log.read_text()
    assert "with 3 process(es)" in log and "GET /me 200" in log
