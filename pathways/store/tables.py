"""The tables. Names are the clinic's; every index a queue query needs is named here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from pathways.store.types import UTCDateTime

# Sort key for FHIR Task priorities: the most urgent first.
PRIORITY_RANK = {"stat": 0, "asap": 1, "urgent": 2, "routine": 3}
OPEN_TASK_STATUSES = ("ready", "in-progress", "on-hold")
OPEN_WHERE = "status IN ('ready', 'in-progress', 'on-hold')"  # partial queue indexes
STALE_PROJECTION = "projected_version < version"


class PathwayDefinition(SQLModel, table=True):
    """A published definition (a pathway version or a calendar): immutable, with its hash."""

    __tablename__ = "pathway_definition"
    __table_args__ = (UniqueConstraint("kind", "pathway", "version", name="uq_definition_version"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)  # pathway or calendar
    pathway: str = Field(max_length=100)
    version: int
    title: str = Field(max_length=200)
    modality: str = Field(max_length=40)
    content: str = Field(sa_column=Column(Text, nullable=False))
    content_hash: str = Field(max_length=64)
    published_at: datetime = Field(sa_type=UTCDateTime)
    published_by: str = Field(max_length=100)


class Patient(SQLModel, table=True):
    """A patient: the external MRN and a display name, nothing more."""

    __tablename__ = "patient"

    id: str = Field(primary_key=True, max_length=36)
    mrn: str = Field(max_length=64, unique=True)
    display_name: str = Field(max_length=200)
    created_at: datetime = Field(sa_type=UTCDateTime)


class Enrollment(SQLModel, table=True):
    """A patient on a pinned pathway version; `state` is the engine's, `version` counts writes."""

    __tablename__ = "enrollment"
    __table_args__ = (
        Index("ix_enrollment_status_flag", "status", "flag"),
        Index("ix_enrollment_pathway", "pathway", "status"),
        # enrollments whose projection lags their state: the projection sweep's work (0006)
        Index(
            "ix_enrollment_projection_stale",
            "id",
            postgresql_where=text(STALE_PROJECTION),
            sqlite_where=text(STALE_PROJECTION),
        ),
        # one enrollment per enrolment key, whoever sends it twice (0009)
        Index("uq_enrollment_key", "idempotency_key", unique=True),
    )

    id: str = Field(primary_key=True, max_length=36)
    patient_id: str = Field(foreign_key="patient.id", max_length=36, index=True)
    idempotency_key: str | None = Field(default=None, max_length=200)
    definition_id: int = Field(foreign_key="pathway_definition.id")
    pathway: str = Field(max_length=100)
    pathway_version: int
    parameters: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    patient_attributes: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    state: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    version: int = 0
    status: str = Field(max_length=20)
    flag: str = Field(max_length=20)
    outcome: str | None = Field(default=None, max_length=100)
    next_due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    steps_done: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    steps_expected: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    phase: str | None = Field(default=None, max_length=100)
    # The course projection (expected steps, projected end, at risk) is refreshed outside the
    # apply lock: `projected_version` is the `version` it was computed for (0006).
    projected_end: datetime | None = Field(default=None, sa_type=UTCDateTime)
    projected_version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    enrolled_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    # When the first step marked `treatment: true` was completed (the state's own record,
    # written with it): days to first treatment read one column, never the task history (0010).
    first_treatment_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PathwayEvent(SQLModel, table=True):
    """The append-only event log: one row per event, unique idempotency key per enrollment."""

    __tablename__ = "pathway_event"
    __table_args__ = (
        UniqueConstraint("enrollment_id", "idempotency_key", name="uq_event_idempotency"),
        Index("ix_event_unprocessed", "processed_at", "id"),
        Index("ix_event_pending_by_enrollment", "enrollment_id", "processed_at", "id"),
        Index("ix_event_replay", "enrollment_id", "applied_seq"),
    )

    id: int | None = Field(default=None, primary_key=True)
    enrollment_id: str = Field(foreign_key="enrollment.id", max_length=36)
    idempotency_key: str = Field(max_length=200)
    type: str = Field(max_length=60)
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    actor: str = Field(max_length=100)
    recorded_at: datetime = Field(sa_type=UTCDateTime)
    processed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    applied_at: datetime | None = Field(
        default=None, sa_type=UTCDateTime
    )  # the `now` the engine saw: replay uses it
    applied_seq: int | None = None  # the enrollment version this event produced
    rejected_reason: str | None = Field(default=None, sa_column=Column(Text))
    # Failed applications (an error, not a rejection): after too many the event is set
    # aside (quarantined) for an administrator to retry or reject; never looped (0006).
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    last_error: str | None = Field(default=None, max_length=200)
    quarantined_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class StaffTask(SQLModel, table=True):
    """Work for a role, with FHIR Task status codes."""

    __tablename__ = "staff_task"
    __table_args__ = (
        UniqueConstraint("enrollment_id", "engine_task", name="uq_task_engine_id"),
        Index("ix_task_role_queue", "role", "status", "due_at", "priority_rank"),
        Index("ix_task_assignee_queue", "assignee", "status", "due_at", "priority_rank"),
        Index("ix_task_overdue", "status", "due_at"),
        # open tasks only, in queue order: the first page of a queue without a sort (0005)
        Index(
            "ix_task_open_role_queue",
            "role",
            "due_at",
            "priority_rank",
            "id",
            postgresql_where=text(OPEN_WHERE),
            sqlite_where=text(OPEN_WHERE),
        ),
        Index(
            "ix_task_open_assignee_queue",
            "assignee",
            "due_at",
            "priority_rank",
            "id",
            postgresql_where=text(OPEN_WHERE),
            sqlite_where=text(OPEN_WHERE),
        ),
    )

    id: str = Field(primary_key=True, max_length=36)
    enrollment_id: str = Field(foreign_key="enrollment.id", max_length=36, index=True)
    engine_task: str = Field(max_length=20)
    step: str = Field(max_length=100)
    pathway: str = Field(max_length=120)
    title: str = Field(max_length=300)
    role: str = Field(max_length=60)
    assignee: str | None = Field(default=None, max_length=100)
    status: str = Field(max_length=20)
    status_reason: str | None = Field(default=None, max_length=300)
    priority: str = Field(max_length=10)
    priority_rank: int
    due_at: datetime = Field(sa_type=UTCDateTime)
    instructions: str = Field(default="", sa_column=Column(Text, nullable=False))
    record_fields: list[str] = Field(sa_column=Column(JSON, nullable=False))
    recorded: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    escalated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class StaffTaskStatusChange(SQLModel, table=True):
    """When each task changed status, who changed it and why."""

    __tablename__ = "staff_task_status_change"

    id: int | None = Field(default=None, primary_key=True)
    task_id: str = Field(foreign_key="staff_task.id", max_length=36, index=True)
    status: str = Field(max_length=20)
    at: datetime = Field(sa_type=UTCDateTime)
    actor: str = Field(max_length=100)
    reason: str | None = Field(default=None, max_length=300)


class Timer(SQLModel, table=True):
    """A pathway timer: fired by the beat sweep when due, never by broker countdowns."""

    __tablename__ = "timer"
    __table_args__ = (Index("ix_timer_due", "fired_at", "cancelled_at", "due_at"),)

    id: str = Field(primary_key=True, max_length=60)
    enrollment_id: str = Field(foreign_key="enrollment.id", max_length=36)
    engine_timer: str = Field(max_length=20)
    step: str = Field(max_length=100)
    due_at: datetime = Field(sa_type=UTCDateTime)
    fired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class OutboxMessage(SQLModel, table=True):
    """A notification to deliver to webhook subscribers; ids and codes only, no PHI."""

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_pending", "dispatched_at", "created_at"),)

    id: str = Field(primary_key=True, max_length=36)
    enrollment_id: str = Field(max_length=36)
    event_type: str = Field(max_length=60)
    role: str | None = Field(default=None, max_length=60)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    # Text for staff (may hold clinical values): shown through the API, never sent in webhooks.
    detail: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(sa_type=UTCDateTime)
    dispatched_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class WebhookSubscription(SQLModel, table=True):
    """Where notifications go: all of them, or those of one role or event type."""

    __tablename__ = "webhook_subscription"

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(max_length=500)
    secret: str = Field(max_length=200)  # the HMAC key the receiver verifies with
    role: str | None = Field(default=None, max_length=60)
    event_type: str | None = Field(default=None, max_length=60)
    active: bool = True  # disabled: no new deliveries, and pending ones wait until enabled
    created_at: datetime = Field(sa_type=UTCDateTime)


# A delivery's life: pending (tried with back-off) -> delivered, or dead after the last try.
DELIVERY_STATUSES = ("pending", "delivered", "dead")


class WebhookDelivery(SQLModel, table=True):
    """One message to one subscriber: retried with back-off until delivered, or dead."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("message_id", "subscription_id", name="uq_delivery_once"),
        Index("ix_delivery_due", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    message_id: str = Field(foreign_key="outbox_message.id", max_length=36)
    subscription_id: int = Field(foreign_key="webhook_subscription.id")
    status: str = Field(default="pending", max_length=20)  # DELIVERY_STATUSES
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=UTCDateTime)
    # Claimed by a deliverer until then: no other deliverer posts it meanwhile.
    leased_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=500)


class AuditLog(SQLModel, table=True):
    """Who did what to which record, when and why."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_target", "target_type", "target_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    actor: str = Field(max_length=100)
    action: str = Field(max_length=60)
    target_type: str = Field(max_length=40)
    target_id: str = Field(max_length=60)
    at: datetime = Field(sa_type=UTCDateTime)
    reason: str | None = Field(default=None, sa_column=Column(Text))
    detail: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class ApiToken(SQLModel, table=True):
    """A bearer token: only its SHA-256 is stored, with the role, the actor and its expiry."""

    __tablename__ = "api_token"
    __table_args__ = (UniqueConstraint("token_hash", name="uq_api_token_hash"),)

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64)
    role: str = Field(max_length=60)
    actor: str = Field(max_length=100)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)  # refused from then on (401)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class DashboardSummary(SQLModel, table=True):
    """The dashboard's figures as the summary sweep last computed them (one row per scope).

    GET /dashboard reads this row instead of counting enrollments and tasks on every request;
    `computed_at` is when, so the answer can say how old its figures are (0010)."""

    __tablename__ = "dashboard_summary"

    scope: str = Field(primary_key=True, max_length=40)  # "clinic": the whole clinic
    computed_at: datetime = Field(sa_type=UTCDateTime)
    figures: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class ChangeLog(SQLModel, table=True):
    """One change of an enrollment's status or flag, or of a task's status: GET /changes reads it.

    Written in the transaction that made the change; ids and codes only, no PHI. The id only
    grows (AUTOINCREMENT on SQLite too), so a poller's cursor is the last id it saw.
    """

    __tablename__ = "change_log"
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)  # enrollment or task
    target_id: str = Field(max_length=36)
    enrollment_id: str = Field(max_length=36)
    status: str = Field(max_length=20)
    flag: str | None = Field(default=None, max_length=20)
    at: datetime = Field(sa_type=UTCDateTime)
