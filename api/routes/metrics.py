"""/metrics: Prometheus text exposition, counted from the database at scrape time.

Each scrape builds a fresh registry from a handful of aggregate queries, so the numbers are the
database's (every API and worker process agrees) and nothing global lives in the process.
Scrapers authenticate like any reader: a `dashboard` token is the one to give them.

Days to first treatment and the on-time rate are not counted here: they are read from the
summary the summary sweep stores for GET /dashboard (one row), with its age, so an alert on
`carepath_dashboard_summary_age_seconds` notices a sweeper that stopped.
"""

from collections.abc import Iterable, Iterator
from datetime import datetime

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import ColumnElement, func
from sqlmodel import Session, SQLModel, col, select

from api.deps import NowDep, Reader, SessionDep
from pathways.store.summary import stored_summary
from pathways.store.tables import (
    OPEN_TASK_STATUSES,
    Enrollment,
    PathwayEvent,
    StaffTask,
    WebhookDelivery,
)

router = APIRouter(tags=["operations"])

# The statuses the escalation sweep treats as overdue when past due (on-hold tasks wait).
WORKING_STATUSES = ("ready", "in-progress")


def _count(session: Session, table: type[SQLModel], where: ColumnElement[bool]) -> int:
    return int(session.exec(select(func.count()).select_from(table).where(where)).one())


class DatabaseCollector(Collector):
    """The metrics of one scrape, read from one session."""

    def __init__(self, session: Session, now: datetime) -> None:
        self.session = session
        self.now = now

    def collect(self) -> Iterable[Metric]:
        yield from self._events()
        yield from self._tasks()
        yield from self._enrollments()
        yield from self._summary()
        # ix_delivery_due (status, next_attempt_at)
        for status, meaning in (
            ("pending", "Webhook deliveries not yet delivered (retried with back-off)."),
            ("dead", "Webhook deliveries that used every attempt (carepath webhooks dead)."),
        ):
            gauge = GaugeMetricFamily(f"carepath_webhook_deliveries_{status}", meaning)
            where = col(WebhookDelivery.status) == status
            gauge.add_metric([], _count(self.session, WebhookDelivery, where))
            yield gauge

    def _events(self) -> Iterator[Metric]:
        db = self.session
        applied = CounterMetricFamily(
            "carepath_events_applied", "Events the engine applied (enrolments included)."
        )
        # ix_event_replay (enrollment_id, applied_seq)
        applied.add_metric([], _count(db, PathwayEvent, col(PathwayEvent.applied_seq).is_not(None)))
        rejected = CounterMetricFamily(
            "carepath_events_rejected", "Events the engine rejected (the reason is stored)."
        )
        rejected.add_metric(
            [], _count(db, PathwayEvent, col(PathwayEvent.rejected_reason).is_not(None))
        )
        unprocessed = GaugeMetricFamily(
            "carepath_events_unprocessed",
            "Events stored and not yet processed by a worker: the queue depth in effect.",
        )
        # ix_event_unprocessed (processed_at, id)
        unprocessed.add_metric(
            [], _count(db, PathwayEvent, col(PathwayEvent.processed_at).is_(None))
        )
        yield from (applied, rejected, unprocessed)

    def _tasks(self) -> Iterator[Metric]:
        role, status = col(StaffTask.role), col(StaffTask.status)
        # ix_task_role_queue (role, status, ...)
        open_rows = self.session.exec(
            select(role, func.count())
            .where(status.in_(OPEN_TASK_STATUSES))
            .group_by(role)
            .order_by(role)
        )
        opened = GaugeMetricFamily(
            "carepath_open_tasks",
            "Open staff tasks (ready, in-progress or on-hold), by role.",
            labels=["role"],
        )
        roles = []
        for name, count in open_rows:
            roles.append(name)
            opened.add_metric([name], int(count))
        # ix_task_overdue (status, due_at)
        late_rows = self.session.exec(
            select(role, func.count())
            .where(status.in_(WORKING_STATUSES), col(StaffTask.due_at) < self.now)
            .group_by(role)
        )
        late = {name: int(count) for name, count in late_rows}
        overdue = GaugeMetricFamily(
            "carepath_overdue_tasks",
            "Ready or in-progress staff tasks past their due time, by role.",
            labels=["role"],
        )
        for name in sorted({*roles, *late}):
            overdue.add_metric([name], late.get(name, 0))
        yield from (opened, overdue)

    def _enrollments(self) -> Iterator[Metric]:
        pathway, status, flag = (
            col(Enrollment.pathway),
            col(Enrollment.status),
            col(Enrollment.flag),
        )
        rows = self.session.exec(
            select(pathway, status, flag, func.count())
            .group_by(pathway, status, flag)
            .order_by(pathway, status, flag)
        )
        family = GaugeMetricFamily(
            "carepath_enrollments",
            "Enrollments by pathway, status and flag.",
            labels=["pathway", "status", "flag"],
        )
        for name, state, mark, count in rows:
            family.add_metric([name, state, mark], int(count))
        yield family

    def _summary(self) -> Iterator[Metric]:
        summary = stored_summary(self.session)  # one primary-key read; absent before the sweep
        if summary is None:
            return
        age = GaugeMetricFamily(
            "carepath_dashboard_summary_age_seconds",
            "Seconds since the summary sweep last computed the dashboard's figures.",
        )
        age.add_metric([], max(0.0, (self.now - summary.computed_at).total_seconds()))
        yield age
        first = summary.figures["days_to_first_treatment"]
        days = GaugeMetricFamily(
            "carepath_days_to_first_treatment",
            "Days from enrolment to the first treatment completed, over the treated enrollments.",
            labels=["quantile"],
        )
        for quantile, key in (("0.5", "median"), ("0.9", "p90")):
            if first[key] is not None:
                days.add_metric([quantile], first[key])
        yield days
        on_time = summary.figures["on_time"]
        if on_time["rate"] is not None:
            rate = GaugeMetricFamily(
                "carepath_tasks_on_time_ratio",
                f"Share of staff tasks completed in the last {on_time['window_days']} days "
                "that were completed by their due time.",
            )
            rate.add_metric([], on_time["rate"])
            yield rate


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
)
def metrics(who: Reader, db: SessionDep, now: NowDep) -> Response:
    """Prometheus metrics, counted from the database now (scrape with a dashboard token)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(db, now))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
