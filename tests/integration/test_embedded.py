"""`carepath up`: API, worker and beat in one process on SQLite, with demo patients."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.integration.processes import CarepathProcess, free_port, wait_until

TOKEN = "embedded-test-token-0123456789"


def test_up_serves_the_demo_and_applies_events_in_process(tmp_path: Path) -> None:
    port = free_port()
    env = {
        "CAREPATH_DATABASE_URL": f"sqlite:///{tmp_path / 'carepath.db'}",
        "CAREPATH_ADMIN_TOKEN": TOKEN,
    }
    server = CarepathProcess(["up", "--port", str(port)], env, tmp_path / "up.log")
    base = f"http://127.0.0.1:{port}"
    try:
        server.wait_healthy(base, 60)
        assert f"sign in with the bearer token: {TOKEN}" in server.output()
        assert httpx.get(f"{base}/enrollments", timeout=5).status_code == 401
        auth = {"Authorization": f"Bearer {TOKEN}"}
        listed = httpx.get(f"{base}/enrollments", headers=auth, timeout=5).json()["items"]
        assert len(listed) == 6
        assert {"overdue", "on_hold", "completed", "on_track"} <= {e["flag"] for e in listed}

        active = next(e for e in listed if e["flag"] == "on_track")
        posted = httpx.post(
            f"{base}/enrollments/{active['id']}/events",
            headers=auth,
            json={"type": "hold", "data": {"reason": "admitted"}, "idempotency_key": "nav-1"},
            timeout=5,
        )
        assert posted.status_code == 202 and posted.json()["created"] is True

        def held() -> bool:
            rows = httpx.get(f"{base}/enrollments", headers=auth, timeout=5).json()["items"]
            return any(e["id"] == active["id"] and e["status"] == "on_hold" for e in rows)

        wait_until(held, 20, "the in-process worker to apply the hold\n" + server.output())
        again = httpx.post(
            f"{base}/enrollments/{active['id']}/events",
            headers=auth,
            json={"type": "hold", "data": {"reason": "admitted"}, "idempotency_key": "nav-1"},
            timeout=5,
        )
        assert again.status_code == 202 and again.json()["created"] is False
    finally:
        server.stop()
    time.sleep(0.1)
