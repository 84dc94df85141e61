"""What `carepath api` logs for a request, and what a logged database error shows: no PHI."""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, insert
from sqlalchemy.exc import IntegrityError

from pathways.store.logs import ScrubbingFormatter
from pathways.store.tables import Patient
from tests import phi_guard
from tests.integration.processes import CarepathProcess, SharedRedis, free_port

TOKEN = "access-log-test-token-0123456789"
MRN, NAME = "MRN-ACCESS-7731", "Quinn Accesslog"
# Registered in a server process and by a bare INSERT, out of sight of the guard's hook.
phi_guard.remember(MRN, NAME)


def test_a_search_by_name_and_mrn_is_logged_without_either(tmp_path: Path) -> None:
    from pathways.store.database import upgrade

    database = f"sqlite:///{tmp_path / 'carepath.db'}"
    upgrade(database)
    port = free_port()
    env = {
        "CAREPATH_DATABASE_URL": database,
        "CAREPATH_BROKER_URL": SharedRedis.url,
        "CAREPATH_ADMIN_TOKEN": TOKEN,
    }
    server = CarepathProcess(
        ["api", "--host", "127.0.0.1", "--port", str(port)], env, tmp_path / "api.log"
    )
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        server.wait_healthy(base, 60)
        made = httpx.post(
            f"{base}/patients", headers=auth, json={"mrn": MRN, "display_name": NAME}, timeout=5
        )
        assert made.status_code == 201, made.text
        searches = [
            httpx.get(f"{base}/patients", params={"mrn": MRN}, headers=auth, timeout=5),
            httpx.get(f"{base}/enrollments", params={"text": NAME}, headers=auth, timeout=5),
            httpx.get(f"{base}/patients/{MRN}", headers=auth, timeout=5),  # an MRN as an id
            httpx.get(f"{base}/patients/{made.json()['id']}", headers=auth, timeout=5),
        ]
        assert [response.status_code for response in searches] == [200, 200, 404, 200]
    finally:
        server.stop()
    log = server.log.read_text()

    assert "GET /patients 200" in log
    assert "GET /enrollments 200" in log
    assert "GET /patients/{patient_id} 404" in log
    assert f"GET /patients/{made.json()['id']} 200" in log
    assert MRN not in log and NAME not in log and "Accesslog" not in log
    assert "?" not in log.replace("?)", "")  # no query string at all


def test_a_database_error_with_stored_values_is_logged_without_them(engine: Engine) -> None:
    row = {"id": "p-1", "mrn": MRN, "display_name": NAME, "created_at": datetime.now(UTC)}
    with engine.begin() as connection:
        connection.execute(insert(Patient), row)
    output = io.StringIO()
    handler = logging.StreamHandler(output)
    handler.setFormatter(ScrubbingFormatter("%(levelname)s %(message)s"))
    log = logging.getLogger("carepath.test.access_log")
    log.addHandler(handler)
    log.propagate = False  # to this handler only: the guard's own file is unscrubbed
    try:
        with pytest.raises(IntegrityError), engine.begin() as connection:
            try:
                connection.execute(insert(Patient), {**row, "id": "p-2"})
            except IntegrityError as error:
                log.exception("registering failed: %s", error)
                raise
    finally:
        log.removeHandler(handler)
        log.propagate = True

    logged = output.getvalue()
    assert "IntegrityError" in logged  # the error is there, for whoever reads the log
    assert MRN not in logged and NAME not in logged
