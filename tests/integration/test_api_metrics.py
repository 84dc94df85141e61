"""/metrics over HTTP: Prometheus text counted from the database, for authenticated readers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import col, select

from api.routes import metrics
from pathways.store.tables import StaffTask
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork
from tests import writes
from tests.integration.api_support import Api

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def served(api: Api) -> Api:
    """The API with the metrics router (included here until the app includes it itself)."""
    app = api.client.app
    assert isinstance(app, FastAPI)
    if not any(getattr(route, "path", None) == "/metrics" for route in app.routes):
        app.include_router(metrics.router)
    return api


def _scrape(api: Api, role: str = "dashboard") -> Samples:
    response = api.call("GET", "/metrics", role)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float:
    found = [
        value
        for (key, pairs), value in samples.items()
        if key == name and set(labels.items()) <= set(pairs)
    ]
    assert found, f"no {name} sample with {labels}: {sorted(k for k, _ in samples)}"
    return sum(found)


def _enrolled(api: Api) -> str:
    patient = api.call("POST", "/patients", json={"mrn": "MRN-M1", "display_name": "Pat Metrics"})
    assert patient.status_code == 201, patient.text
    body = {"patient_id": patient.json()["id"], "pathway": "chemotherapy", "idempotency_key": "e1"}
    response = api.call("POST", "/enrollments", json=body)
    assert response.status_code == 201, response.text
    enrollment_id: str = response.json()["id"]
    return enrollment_id


def test_metrics_without_a_token_is_a_401_problem(served: Api) -> None:
    response = served.client.get("/metrics")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 401 and "Bearer" in response.json()["detail"]


def test_an_empty_clinic_scrapes_as_zeros(served: Api) -> None:
    samples = _scrape(served)
    assert _value(samples, "carepath_events_applied_total") == 0
    assert _value(samples, "carepath_events_rejected_total") == 0
    assert _value(samples, "carepath_events_unprocessed") == 0
    assert _value(samples, "carepath_webhook_deliveries_pending") == 0
    assert _value(samples, "carepath_webhook_deliveries_dead") == 0
    assert not any(name == "carepath_enrollments" for name, _ in samples)


def test_a_dashboard_token_sees_enrollments_tasks_and_the_event_queue(served: Api) -> None:
    enrollment_id = _enrolled(served)
    hold = {"reason": "admitted to hospital", "idempotency_key": "hold-1"}
    assert served.call("POST", f"/enrollments/{enrollment_id}/hold", json=hold).status_code == 202

    before = _scrape(served)
    name, pathway, status = "carepath_enrollments", "chemotherapy", "active"
    assert _value(before, name, pathway=pathway, status=status) == 1
    assert _value(before, name, pathway=pathway, status=status, flag="on_track") == 1
    assert _value(before, "carepath_events_unprocessed") == 1
    assert _value(before, "carepath_open_tasks", role="lab") == 1
    assert _value(before, "carepath_overdue_tasks", role="lab") == 0
    applied = _value(before, "carepath_events_applied_total")
    assert applied >= 1  # the enrolment itself

    assert served.work() == 1
    after = _scrape(served)
    assert _value(after, "carepath_events_unprocessed") == 0
    assert _value(after, "carepath_events_applied_total") == applied + 1
    assert _value(after, "carepath_events_rejected_total") == 0
    assert _value(after, name, pathway=pathway, status="on_hold") == 1
    assert not any(key == name and ("status", "active") in pairs for key, pairs in after)


def test_a_rejected_event_and_an_overdue_task_are_counted(served: Api) -> None:
    enrollment_id = _enrolled(served)
    resume = {"reason": "not on hold", "idempotency_key": "resume-1"}
    assert (
        served.call("POST", f"/enrollments/{enrollment_id}/resume", json=resume).status_code == 202
    )
    served.work()
    with SqlAlchemyUnitOfWork(served.engine) as uow:
        lab = uow.session.exec(
            select(StaffTask).where(StaffTask.role == "lab", col(StaffTask.status) == "ready")
        ).one()
        lab.due_at = writes.now() - timedelta(hours=1)
        uow.session.add(lab)
        uow.commit()
    samples = _scrape(served, "lab")  # any reader may scrape
    assert _value(samples, "carepath_events_rejected_total") == 1
    assert _value(samples, "carepath_overdue_tasks", role="lab") == 1
    assert _value(samples, "carepath_overdue_tasks", role="radiology") == 0


def test_days_to_first_treatment_and_its_age_come_from_the_stored_summary(served: Api) -> None:
    from pathways.service.bus import Service
    from pathways.service.commands import RefreshDashboardSummary
    from pathways.store.tables import Enrollment

    enrollment_id = served.enrolled("MRN-M2", now=writes.now() - timedelta(days=6))
    assert not any(name.startswith("carepath_days") for name, _ in _scrape(served))
    with SqlAlchemyUnitOfWork(served.engine) as uow:
        row = uow.session.get(Enrollment, enrollment_id)
        assert row is not None
        row.first_treatment_at = row.enrolled_at + timedelta(days=4)
        uow.commit()
    assert not any(name.startswith("carepath_days") for name, _ in _scrape(served))  # not live
    Service.on(served.engine).handle(RefreshDashboardSummary())
    samples = _scrape(served)
    assert _value(samples, "carepath_days_to_first_treatment", quantile="0.5") == 4
    assert _value(samples, "carepath_days_to_first_treatment", quantile="0.9") == 4
    assert 0 <= _value(samples, "carepath_dashboard_summary_age_seconds") < 60
    assert not any(name == "carepath_tasks_on_time_ratio" for name, _ in samples)  # none done
