"""Administrators see quarantined events and settle them, over HTTP and from the CLI."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import update
from sqlmodel import Session, col

from pathways.cli import cli
from pathways.store.enrollments import record_event
from pathways.store.tables import Enrollment, PathwayEvent
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork
from tests import writes
from tests.integration.api_support import Api


def _quarantined_hold_then_resume(api: Api) -> tuple[str, int, int]:
    """A hold set aside by an administrator-worthy failure, and a resume waiting behind it."""
    enrollment_id = api.enrolled("MRN-Q1")
    with SqlAlchemyUnitOfWork(api.engine) as uow:
        hold, _ = record_event(
            uow, enrollment_id, "hold", {"reason": "ward"}, "q1", "kim", writes.now()
        )
        resume, _ = record_event(
            uow, enrollment_id, "resume", {"reason": "home"}, "q2", "kim", writes.now()
        )
        uow.commit()
    assert hold.id is not None and resume.id is not None
    with Session(api.engine) as session:
        session.execute(
            update(PathwayEvent)
            .where(col(PathwayEvent.id) == hold.id)
            .values(attempts=5, last_error="DataError", quarantined_at=writes.now())
        )
        session.commit()
    return enrollment_id, hold.id, resume.id


def test_an_administrator_lists_quarantined_events_without_their_data(api: Api) -> None:
    enrollment_id, hold, _ = _quarantined_hold_then_resume(api)
    answer = api.call("GET", "/events/quarantined", "admin")
    assert answer.status_code == 200
    [listed] = answer.json()
    assert listed["id"] == hold and listed["enrollment_id"] == enrollment_id
    assert listed["attempts"] == 5 and listed["last_error"] == "DataError"
    assert "data" not in listed and "ward" not in answer.text


@pytest.mark.parametrize("role", ["navigator", "dashboard", "lab"])
def test_only_an_administrator_sees_or_settles_quarantined_events(api: Api, role: str) -> None:
    _, hold, _ = _quarantined_hold_then_resume(api)
    assert api.call("GET", "/events/quarantined", role).status_code == 403
    assert api.call("POST", f"/events/{hold}/retry", role).status_code == 403


def test_rejecting_over_http_enqueues_what_waited_and_it_applies_in_order(api: Api) -> None:
    enrollment_id, hold, resume = _quarantined_hold_then_resume(api)
    answer = api.call("POST", f"/events/{hold}/reject", "admin", json={"reason": "entered twice"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"event": hold, "outcome": "rejected", "enqueued": resume}
    api.work()
    with Session(api.engine) as session:
        rejected = session.get(PathwayEvent, hold)
        applied = session.get(PathwayEvent, resume)
        enrollment = session.get(Enrollment, enrollment_id)
    assert rejected is not None and rejected.rejected_reason is not None
    assert applied is not None and applied.rejected_reason == "the enrollment is not on hold"
    assert enrollment is not None and enrollment.status == "active"
    again = api.call("POST", f"/events/{hold}/reject", "admin", json={"reason": "again"})
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"


def test_retrying_over_http_applies_the_event_then_the_ones_behind_it(api: Api) -> None:
    enrollment_id, hold, resume = _quarantined_hold_then_resume(api)
    answer = api.call("POST", f"/events/{hold}/retry", "admin")
    assert answer.status_code == 200
    assert answer.json()["enqueued"] == resume
    api.work()
    with Session(api.engine) as session:
        events = [session.get(PathwayEvent, n) for n in (hold, resume)]
        enrollment = session.get(Enrollment, enrollment_id)
    assert [e.applied_seq for e in events if e is not None] == [2, 3]
    assert enrollment is not None and enrollment.status == "active"


def test_the_cli_lists_rejects_and_refuses_what_is_not_quarantined(
    api: Api, database_url: str
) -> None:
    _, hold, _ = _quarantined_hold_then_resume(api)
    env = {"CAREPATH_DATABASE_URL": database_url}
    listed = CliRunner().invoke(cli, ["events", "quarantined"], env=env)
    assert listed.exit_code == 0 and listed.output.startswith(f"{hold}\t")
    rejected = CliRunner().invoke(cli, ["events", "reject", str(hold), "--reason", "dup"], env=env)
    assert rejected.exit_code == 0, rejected.output
    again = CliRunner().invoke(cli, ["events", "retry", str(hold)], env=env)
    assert again.exit_code == 1 and f"event {hold} is not quarantined" in again.output
